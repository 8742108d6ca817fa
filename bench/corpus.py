"""Synthetic Self-Instruct-like instruction text, deterministic for a seed (no downloads).

A small grammar of the task families the paper's seed set and generations cover (writing,
explanation, classification, coding, math word problems, rewriting, extraction, advice,
translation, lists), filled from word lists with Zipf-skewed choices so that a few topics
are frequent and most are rare, as in real generations. Numbers and names widen the
vocabulary the way real instructions do.

Near-duplicates: a share of the stream is produced by mutating an earlier instruction
(word drops, swaps, insertions, synonym swaps, an appended clause, case and punctuation),
which is what a language model does when it paraphrases the in-context examples.

    pool = generate(50_000, seed=1)
    queries = generate_queries(pool, 2_000, seed=2)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

__all__ = [
    "NEAR_DUPLICATE_SHARE", "QUERY_DUPLICATE_SHARE", "generate", "generate_queries", "mutate",
]


def _words(text: str) -> list[str]:
    """A comma-separated word list (items may wrap across lines)."""
    return [" ".join(item.split()) for item in text.split(",") if item.strip()]


NEAR_DUPLICATE_SHARE = 0.15  # share of the pool stream derived from an earlier instruction
QUERY_DUPLICATE_SHARE = 0.30  # share of queries derived from a pool instruction (5 % verbatim)

TOPICS = _words("""
photosynthesis, the water cycle, climate change, the French Revolution, the Roman Empire,
black holes, machine learning, neural networks, blockchain, inflation, interest rates, the
stock market, supply and demand, vaccines, the immune system, sleep, meditation, time
management, remote work, public speaking, job interviews, personal finance, budgeting,
renewable energy, solar panels, electric cars, recycling, ocean pollution, deforestation, the
Industrial Revolution, World War II, the Cold War, the moon landing, quantum computing,
cryptography, the internet, social media, online privacy, cybersecurity, password managers,
healthy eating, intermittent fasting, marathon training, yoga, gardening, composting, urban
planning, public transport, bicycles, tourism, the Olympic Games, chess, jazz music, classical
music, impressionist painting, the Renaissance, Greek mythology, Shakespeare, poetry, the
scientific method, evolution, DNA, the periodic table, gravity, relativity, volcanoes,
earthquakes, hurricanes, the solar system, Mars exploration, artificial intelligence,
self-driving cars, 3D printing, virtual reality, video games, board games, cooking pasta,
baking bread, coffee, tea ceremonies, wine tasting, minimalism, productivity apps,
procrastination, habit formation, friendship, parenting, adopting a dog, cat behavior, bird
migration, bees, coral reefs, rainforests, deserts, glaciers, the Amazon river, the Great Wall
of China, the pyramids of Giza, ancient Egypt, the Silk Road, democracy, elections, human
rights, free speech, copyright law, open source software, version control, cloud computing,
databases, spreadsheets, email etiquette, negotiation, leadership, customer service,
marketing, branding, startups, venture capital, cryptocurrency, the gig economy, minimum wage,
universal basic income, housing prices, mortgages, credit scores, retirement savings, taxes,
insurance, first aid, CPR, allergies, the common cold, diabetes, heart health, mental health,
anxiety, burnout, loneliness, volunteering, charity, sustainable fashion, fast food, veganism,
food waste, water scarcity, nuclear power, wind turbines, batteries, semiconductors,
smartphones, 5G networks, satellites, GPS, weather forecasting, tides, rainbows, northern
lights, fireflies, the printing press, the steam engine, antibiotics, the Black Death, the
Byzantine Empire, the Ming dynasty, the Aztec civilization, the Inca road system, the Ottoman
Empire, the Meiji Restoration, the civil rights movement, women's suffrage, the Berlin Wall,
the European Union, the United Nations, globalization, free trade, tariffs, recessions, the
housing bubble, microfinance, compound interest, index funds, bonds, stock options,
photosynthetic algae, plate tectonics, the ozone layer, acid rain, carbon capture, hydrogen
fuel, geothermal energy, tidal power, smart grids, electric scooters, high-speed rail,
container shipping, supply chains, inventory management, lean manufacturing, agile
development, code review, unit testing, microservices, containers, Kubernetes, API design,
data privacy laws, facial recognition, deepfakes, large language models, recommendation
systems, search engines, online advertising, influencer marketing, podcasts, streaming
services, film noir, silent movies, animation, stand-up comedy, opera, ballet, hip hop, the
blues, K-pop, street art, graffiti, photography, calligraphy, origami, knitting, pottery,
woodworking, home brewing, sourdough starters, fermentation, spices, street food, sushi,
tacos, curry, chocolate, cheese making, honey, olive oil, vertical farming, hydroponics,
organic farming, pesticides, soil erosion, irrigation, endangered species, wolves in
Yellowstone, elephants, octopuses, dolphins, penguins, butterflies, ants, spiders, sharks,
whales, dinosaurs, fossils, mammoths, Neanderthals, the human brain, memory, dreams, emotions,
motivation, creativity, curiosity, empathy, stress, resilience, gratitude, mindfulness,
introverts, extroverts, birth order, twins, bilingual children, sign language, dyslexia,
autism, online learning, homeschooling, standardized tests, student loans, study habits, note
taking, speed reading, exam anxiety, group projects, internships, career changes, freelancing,
side hustles, salary negotiation, work-life balance, four-day work weeks, open offices, team
building, conflict resolution, giving feedback, mentoring, networking events, personal
branding, LinkedIn profiles, wedding planning, moving to a new city, buying a used car,
renting an apartment, home insurance, house plants, interior design, feng shui, tiny houses,
camping, hiking, rock climbing, scuba diving, surfing, skiing, cycling tours, road trips,
backpacking, solo travel, jet lag, learning a new language, the history of English, etymology,
grammar, punctuation, the Oxford comma, idioms, proverbs, palindromes, crossword puzzles,
Sudoku, magic tricks, card games, poker odds, probability, statistics, the Monty Hall problem,
prime numbers, fractals, infinity, the Pythagorean theorem, calculus, linear algebra, game
theory, the prisoner's dilemma, behavioral economics, nudges, advertising psychology
""")

ASPECTS = _words("""
the history, the future, the economics, the ethics, the science, the benefits, the risks, the
origins, the impact, the politics, the psychology, the mathematics, the environmental cost,
common myths, the main arguments, the key figures, the legal side, the social effects, recent
research, the basic principles, practical uses, the hidden costs, the cultural meaning, the
biggest challenges
""")

OBJECTS = _words("""
a poem, a short story, a haiku, a limerick, a blog post, a tweet, a product description, a
cover letter, a thank-you note, an apology email, a speech, a toast, a slogan, a tagline, a
news headline, a movie plot, a dialogue, a recipe, a song chorus, a riddle, a joke, an essay
outline, a lesson plan, a quiz, a to-do list, a packing list, a meal plan, a workout routine,
a travel itinerary, a job description, a press release, a review, a letter of recommendation,
a birthday message, a eulogy, a persuasive paragraph, a children's story, a motivational
quote, a mission statement, an elevator pitch, a sonnet, a fable, a fairy tale, a horror
story, a mystery plot, a sitcom scene, a rap verse, a newsletter, a podcast script, a YouTube
video script, an Instagram caption, a FAQ page, a user manual, a privacy policy, a grant
proposal, a book summary, a debate opening, a wedding vow, a retirement speech, a complaint
letter, a resignation letter, a memo, a meeting agenda, a survey, an interview question list,
a crossword clue, a trivia question
""")

AUDIENCES = _words("""
a five-year-old, a high school student, a beginner, an expert, a busy parent, a software
engineer, a retiree, a tourist, a new employee, a customer, a teenager, a college freshman, a
small business owner, a doctor, a teacher, a non-native speaker, a farmer, a nurse, a
journalist, a lawyer, a city council, an investor, a hiring manager, a grandparent, a
first-time voter, a scientist, a chef, an athlete, a musician, a poet
""")

PROFESSIONS = _words("""
doctor, nurse, lawyer, teacher, chef, pilot, firefighter, police officer, architect,
accountant, plumber, electrician, farmer, librarian, journalist, photographer, dentist,
veterinarian, pharmacist, software developer, data scientist, graphic designer, translator,
tour guide, real estate agent, personal trainer, therapist, museum curator, astronaut, marine
biologist, park ranger, barista, baker, tailor, mechanic, judge, diplomat, detective
""")

LANGUAGES = _words("""
Python, JavaScript, Java, C++, Go, Rust, SQL, Ruby, TypeScript, Bash, Kotlin, Swift, Haskell,
PHP, C#, Scala, R, MATLAB
""")

CODE_TASKS = _words("""
reverses a string, checks whether a number is prime, finds the largest element in a list,
removes duplicates from a list, counts the vowels in a sentence, merges two sorted arrays,
computes the factorial of n, returns the nth Fibonacci number, validates an email address,
converts Celsius to Fahrenheit, sorts a dictionary by value, flattens a nested list, checks
whether a string is a palindrome, finds the median of three numbers, counts word frequencies
in a text, parses a CSV file, computes the average of a list, finds the intersection of two
lists, rotates a matrix by 90 degrees, checks balanced parentheses, implements binary search,
computes the greatest common divisor, generates all permutations, detects a cycle in a linked
list, converts a Roman numeral to an integer, reads a JSON file and prints its keys, downloads
a web page and counts its links, finds all anagrams of a word in a dictionary, computes the
edit distance between two strings, implements a stack using two queues, serializes a binary
tree, finds the shortest path in a grid, schedules meetings without overlaps, compresses a
string using run-length encoding, validates a Sudoku board, converts a number to words,
computes compound interest, generates a random password, checks whether two strings are
rotations of each other, finds the longest common prefix, groups people by age, splits a bill
between friends
""")

CLASSES = _words("""
positive or negative, spam or not spam, fact or opinion, formal or informal, sarcastic or
sincere, a question or a statement, urgent or not urgent, fiction or non-fiction, offensive or
not offensive, relevant or irrelevant, true or false, agree or disagree, happy sad or angry,
sports politics or technology, a complaint or a compliment, written by a child or an adult,
safe or unsafe, ethical or unethical, a pun or not a pun
""")

THINGS = _words("""
sentence, tweet, review, email, headline, paragraph, comment, message, statement, product
review, movie review, customer complaint, news article, text, speech transcript, restaurant
review, forum post, text message, job posting, poem, essay, advertisement, news report, quote,
dialogue, recipe, abstract, letter, chat log, support ticket
""")

ADJECTIVES = _words("""
funny, formal, persuasive, concise, friendly, professional, creative, short, detailed, simple,
catchy, sad, inspiring, sarcastic, polite, informative, casual, dramatic, romantic,
mysterious, optimistic, gloomy, nostalgic, whimsical, academic, playful, angry, calm, urgent,
heartwarming, spooky, elegant, blunt, diplomatic, enthusiastic, skeptical
""")

NAMES = _words("""
Alice, Bob, Maria, John, Li Wei, Fatima, Carlos, Priya, Tom, Emma, Ahmed, Sofia, Kenji, Olga,
David, Grace, Lucas, Aisha, Noah, Mia, Omar, Chloe, Raj, Hannah, Mateo, Yuki, Ivan, Zara,
Samuel, Leila, Diego, Nora, Kwame, Ingrid, Pedro, Amara, Felix, Rosa
""")

ITEMS = _words("""
apples, pencils, books, tickets, cookies, marbles, shirts, eggs, stamps, coins, oranges,
cupcakes, stickers, notebooks, candles, balloons, plants, cards, bottles, chairs
""")

PLACES = _words("""
Paris, Tokyo, New York, a small village, the beach, the mountains, a library, a hospital, a
train station, a farm, the office, a restaurant, a museum, a desert island, Cairo, Mumbai,
Lagos, Buenos Aires, Sydney, Istanbul, Reykjavik, Nairobi, Lisbon, Seoul, a space station, a
submarine, a haunted house, a night market, a ski resort, a rainforest, a busy airport, a
quiet cafe, an abandoned factory, a university campus
""")

ANIMALS = _words("""
dog, cat, parrot, horse, rabbit, fox, owl, turtle, dolphin, elephant, tiger, penguin, octopus,
bee, wolf, frog, hedgehog, squirrel, goldfish, kangaroo
""")

EVENTS = _words("""
a product launch, a team offsite, a charity run, a birthday party, a job interview, a school
reunion, a wedding, a conference talk, a hackathon, a farewell lunch, a parent-teacher
meeting, a house warming, a book club meeting, a town hall
""")

STATEMENTS = _words("""
homework should be banned, cities should be car-free, social media does more harm than good,
college should be free, robots will replace most jobs, voting should be mandatory, zoos should
be closed, remote work is better than office work, space exploration is worth the cost,
everyone should learn to code, video games are a form of art, tipping should be abolished
""")

FILLERS = ["please", "briefly", "also", "carefully", "quickly", "the", "very", "in detail", "now"]

SYNONYMS = {
    "write": ["compose", "create", "draft"],
    "explain": ["describe", "clarify"],
    "give": ["provide", "offer"],
    "list": ["name", "enumerate"],
    "short": ["brief"],
    "funny": ["humorous", "amusing"],
    "about": ["on"],
    "generate": ["produce", "come up with"],
    "find": ["identify", "determine"],
    "simple": ["easy", "plain"],
    "text": ["passage"],
}


SUBJECTS = _words("""
history, biology, economics, chemistry, literature, physics, geography, art, philosophy,
computer science, music, psychology, civics, statistics, nutrition
""")

PREAMBLES = ["I am a {job} in {place}.", "I'm preparing for {event}.",
             "This is for my {subject} class.", "My {relation} asked me for help.",
             "I only have {k} minutes.", "Imagine you are a {job}.", "I am new to {topic}.",
             "Our team is working on {topic}.", "As a {job},", "For a {subject} newsletter,",
             "You are helping {audience}.", "Think like a {job}."]

QUALIFIERS = ["in {place}", "during the {decade}s", "for {audience}", "in the next {k} years",
              "in developing countries", "in small towns", "on social media", "at school",
              "at work", "in ancient times", "today"]

CONSTRAINTS = ["Use no more than {n} words.", "Include at least {k} examples.",
               "Format the answer as a table.", "Explain your reasoning step by step.",
               "Answer in {k} bullet points.", "Avoid technical jargon.",
               "Keep it under {n} characters.", "Start every sentence with the letter {c}.",
               "Mention {topic} at least once.", "Write it from the point of view of a {job}.",
               "Do not use the letter {c}.", "End with a question.", "Cite {k} sources.",
               "Use a {adjective} tone.", "Make it suitable for {audience}.",
               "Give the answer in {language}."]

RELATIONS = ["boss", "teacher", "friend", "sister", "neighbor", "client", "coach", "grandmother"]

Template = Callable[[random.Random], str]


def _one(rng: random.Random, options: str) -> str:
    """One of the '|'-separated phrasings."""
    return rng.choice(options.split("|"))


def _zipf(rng: random.Random, items: Sequence[str]) -> str:
    """Pick an item with a Zipf-like skew: low indexes are frequent, the tail is rare."""
    n = len(items)
    return items[min(n - 1, int(n * rng.random() ** 1.6))]


def _fill(rng: random.Random, pattern: str) -> str:
    """Fill the {slots} that preambles, qualifiers and constraints use."""
    return pattern.format(
        n=rng.randint(2, 60) * 5, k=rng.randint(2, 9), c=chr(rng.randint(65, 90)),
        topic=_zipf(rng, TOPICS), job=rng.choice(PROFESSIONS), place=_zipf(rng, PLACES),
        event=rng.choice(EVENTS), subject=rng.choice(SUBJECTS), relation=rng.choice(RELATIONS),
        audience=_zipf(rng, AUDIENCES), decade=rng.randrange(1900, 2030, 10),
        adjective=_zipf(rng, ADJECTIVES), language=rng.choice(["French", "Spanish", "German"]))


def _topic(rng: random.Random) -> str:
    """A topic, sometimes narrowed to an aspect ("the ethics of vaccines") or a setting."""
    topic = _zipf(rng, TOPICS)
    if rng.random() < 0.35:
        topic = f"{rng.choice(ASPECTS)} of {topic}"
    if rng.random() < 0.25:
        topic = f"{topic} {_fill(rng, rng.choice(QUALIFIERS))}"
    return topic


def _dress(rng: random.Random, core: str) -> str:
    """Optionally put a context sentence before and a constraint after the core request."""
    parts = [core]
    if rng.random() < 0.35:
        parts.insert(0, _fill(rng, rng.choice(PREAMBLES)))
    if rng.random() < 0.5:
        parts.append(_fill(rng, rng.choice(CONSTRAINTS)))
    return " ".join(parts)


def _writing(rng: random.Random) -> str:
    obj = _zipf(rng, OBJECTS)
    noun = obj[obj.index(" ") + 1:]
    adjective = rng.choice(["", "", _zipf(rng, ADJECTIVES) + " "])
    verb = _one(rng, "Write a|Write a|Compose a|Create a|Draft a|Generate a|Can you write a"
                     "|I need a|Please write a|Help me write a|Come up with a|Produce a")
    link = _one(rng, "about|about|on|describing|inspired by|that explains|celebrating"
                     "|criticizing|on the topic of|that mentions")
    tail = rng.choice(["", "", f" for {_zipf(rng, AUDIENCES)}", f" set in {_zipf(rng, PLACES)}",
                       " that rhymes", f" for {rng.choice(EVENTS)}",
                       f" featuring a {rng.choice(ANIMALS)} named {rng.choice(NAMES)}"])
    return f"{verb} {adjective}{noun} {link} {_topic(rng)}{tail}."


def _explain(rng: random.Random) -> str:
    topic = _topic(rng)
    return rng.choice([
        f"{_one(rng, 'Explain|Describe|Teach|Clarify')} {topic} to {_zipf(rng, AUDIENCES)}.",
        f"What are the main {_one(rng, 'causes|effects|causes and effects|drivers|consequences')}"
        f" of {topic}?",
        f"{_one(rng, 'Describe|Explain|Tell me')} how {topic} works"
        f" {_one(rng, 'in simple terms|in three sentences|in detail|with an analogy')}.",
        f"Give {rng.randint(2, 10)} {_one(rng, 'interesting|surprising|little-known')} facts"
        f" about {topic}.",
        f"What is the difference between {topic} and {_topic(rng)}?",
        f"{_one(rng, 'Summarize|Outline|Sketch')} {topic} in"
        f" {_one(rng, 'one paragraph|two sentences|a few lines|a short list')}.",
        f"Why {_one(rng, 'is|should')} {topic} {_one(rng, 'important|matter|worry us')}"
        f" for {_zipf(rng, AUDIENCES)}?",
        f"What are the {_one(rng, 'pros and cons|advantages|risks|strengths and weaknesses')}"
        f" of {topic}?",
        f"How would a {rng.choice(PROFESSIONS)} explain {topic}?",
        f"Compare {topic} in {_zipf(rng, PLACES)} and {_zipf(rng, PLACES)}.",
    ])


def _classify(rng: random.Random) -> str:
    thing = _zipf(rng, THINGS)
    classes = _zipf(rng, CLASSES)
    return rng.choice([
        f"Classify the {_one(rng, 'following|given|next')} {thing} as {classes}.",
        f"Is the given {thing} about {_topic(rng)} {classes}?",
        f"Decide whether this {thing} is {classes}, and explain why.",
        f"Label each {thing} written by {_zipf(rng, AUDIENCES)} as {classes}.",
        f"Detect the {_one(rng, 'sentiment|tone|intent|emotion')} of the {thing} about"
        f" {_topic(rng)}.",
        f"Given a {thing}, tell whether it was written by a {rng.choice(PROFESSIONS)}.",
        f"Which category does this {thing} belong to: {classes}?",
        f"Read the {thing} and answer {_one(rng, 'yes or no|true or false')}: is it about"
        f" {_topic(rng)}?",
    ])


def _code(rng: random.Random) -> str:
    lang, task = _zipf(rng, LANGUAGES), _zipf(rng, CODE_TASKS)
    return rng.choice([
        f"Write a {lang} {_one(rng, 'function|script|class|program|method')} that {task}.",
        f"Implement {_one(rng, 'a program|an algorithm|a solution')} in {lang} which {task}.",
        f"Fix the bug in this {lang} code that {task} for {_topic(rng)}.",
        f"Explain what the following {lang} snippet does,"
        f" {_one(rng, 'line by line|in plain English|step by step')}.",
        f"Convert this {_zipf(rng, LANGUAGES)} code into {lang}.",
        f"Write a unit test for a {lang} function that {task}, using data about {_topic(rng)}.",
        f"What is the time complexity of an algorithm that {task}?",
        f"Write a SQL query that lists all {rng.choice(PROFESSIONS)}s hired after"
        f" {rng.randint(1990, 2024)}.",
        f"Review this {lang} code that {task} and suggest {rng.randint(2, 6)} improvements.",
    ])


def _math(rng: random.Random) -> str:
    a, b, c = rng.randint(2, 99), rng.randint(2, 99), rng.randint(2, 12)
    name, other, item = rng.choice(NAMES), rng.choice(NAMES), rng.choice(ITEMS)
    return rng.choice([
        f"{name} has {a} {item} and gives {b % a + 1} to {other}. How many {item} are left?",
        f"Calculate the {_one(rng, 'area|circumference|diameter')} of a circle with a radius"
        f" of {a} {_one(rng, 'cm|m|inches|km')}.",
        f"Solve the equation {c}x + {a} = {b}.",
        f"A {_one(rng, 'train|car|cyclist|boat|plane')} travels {a * 10} km in {c} hours."
        f" What is its average speed?",
        f"What is {a}% of {b * 10}?",
        f"Convert {a * 3} {_one(rng, 'miles|pounds|gallons|feet')} to metric units.",
        f"If {name} saves ${a} a week, how much will {other} need to match it after {b} weeks?",
        f"Find the next number in the sequence {c}, {2 * c}, {4 * c}, {8 * c}.",
        f"{name} buys {c} {item} at ${a} each with a {b % 40 + 5}% discount. What is the total?",
        f"What is the probability of rolling a sum of {c} with two dice?",
    ])


def _rewrite(rng: random.Random) -> str:
    thing = _zipf(rng, THINGS)
    language = rng.choice(["French", "Spanish", "German", "Chinese", "Hindi", "Arabic",
                           "Japanese", "Swahili", "Portuguese", "Korean"])
    return rng.choice([
        f"Rewrite the {_one(rng, 'following|given')} {thing} to make it more"
        f" {_zipf(rng, ADJECTIVES)}.",
        f"Paraphrase this {thing} in a {_zipf(rng, ADJECTIVES)} tone.",
        f"Correct the {_one(rng, 'grammar|spelling|punctuation')} mistakes in the given {thing}.",
        f"Shorten this {thing} about {_topic(rng)} to at most {rng.randint(5, 40)} words.",
        f"Translate the {thing} from {_zipf(rng, AUDIENCES)} into {language}.",
        f"Make this {thing} sound more {_zipf(rng, ADJECTIVES)} for {_zipf(rng, AUDIENCES)}.",
        f"Turn the {thing} into {_zipf(rng, OBJECTS)}.",
    ])


def _extract(rng: random.Random) -> str:
    thing = _zipf(rng, THINGS)
    return rng.choice([
        f"Extract all the {_one(rng, 'names|dates|numbers|places|companies')} mentioned in the"
        f" {thing} about {_topic(rng)}.",
        f"Find the main idea of the {thing} about {_topic(rng)}.",
        f"List the {_one(rng, 'keywords|verbs|adjectives|named entities')} in the following"
        f" {thing}.",
        f"Count how many times the word \"{rng.choice(ITEMS + ANIMALS)}\" appears in the {thing}"
        f" from {_zipf(rng, PLACES)}.",
        f"Turn the {thing} into a JSON object with the fields name, date and {rng.choice(ITEMS)}.",
    ])


def _advice(rng: random.Random) -> str:
    return rng.choice([
        f"Suggest {rng.randint(3, 10)} ways to"
        f" {_one(rng, 'get better at|learn|teach|save money on')} {_zipf(rng, TOPICS)}.",
        f"How can {_zipf(rng, AUDIENCES)} get started with {_topic(rng)}?",
        f"Give me tips for a trip to {_zipf(rng, PLACES)} on a budget of"
        f" ${rng.randint(2, 50) * 100}.",
        f"Recommend {rng.randint(2, 8)} {_one(rng, 'books|podcasts|films|courses')} about"
        f" {_topic(rng)}.",
        f"Plan a {rng.randint(1, 14)}-day schedule to learn about {_topic(rng)}.",
        f"What should I consider before {_one(rng, 'investing in|writing about|teaching')}"
        f" {_zipf(rng, TOPICS)}?",
        f"My {rng.choice(ANIMALS)} keeps"
        f" {_one(rng, 'barking|hiding|scratching the sofa|waking me up|eating plants')}"
        f" at night. What should I do?",
        f"I am a {rng.choice(PROFESSIONS)} preparing for {rng.choice(EVENTS)}. What should I"
        f" {_one(rng, 'bring|say|wear|avoid')}?",
    ])


def _lists(rng: random.Random) -> str:
    kind = _one(rng, "animals|countries|fruits|inventors|rivers|programming languages"
                     "|musical instruments|cities|vegetables|board games")
    return rng.choice([
        f"List {rng.randint(3, 12)} {kind} that start with the letter {chr(rng.randint(65, 90))}.",
        f"Name {rng.randint(2, 9)} {_one(rng, 'famous people|places|inventions')} associated"
        f" with {_zipf(rng, TOPICS)}.",
        f"Sort these words in alphabetical order: {', '.join(rng.sample(ITEMS + ANIMALS, 4))}.",
        f"Brainstorm names for a {_zipf(rng, ADJECTIVES)} company that sells {rng.choice(ITEMS)}.",
        f"Create {_zipf(rng, OBJECTS)} for {_zipf(rng, AUDIENCES)} about {_topic(rng)}.",
    ])


def _roleplay(rng: random.Random) -> str:
    job = rng.choice(PROFESSIONS)
    return rng.choice([
        f"You are a {job} in {_zipf(rng, PLACES)}. Describe a typical"
        f" {_one(rng, 'day|week|mistake|emergency')} at work.",
        f"Pretend you are a {job} and answer a question from {_zipf(rng, AUDIENCES)} about"
        f" {_topic(rng)}.",
        f"Write a dialogue between a {job} and a {rng.choice(PROFESSIONS)} about {_topic(rng)}.",
        f"Argue {_one(rng, 'for|against')} the claim that {rng.choice(STATEMENTS)}.",
        f"Write an email to {rng.choice(NAMES)} {_one(rng, 'inviting them to|declining|about')}"
        f" {rng.choice(EVENTS)}.",
        f"What would {rng.choice(NAMES)}, a {job}, say to {_zipf(rng, AUDIENCES)} about"
        f" {_topic(rng)}?",
    ])


# Open-ended writing and explanation dominate real generations (the paper's Figure 2).
TEMPLATES: tuple[Template, ...] = (_writing, _writing, _writing, _explain, _explain, _classify,
                                   _code, _math, _rewrite, _extract, _advice, _lists, _roleplay)


def mutate(rng: random.Random, text: str, edits: int) -> str:
    """Apply `edits` random paraphrase edits to `text` (the near-duplicates models emit)."""
    words = text.split()
    for _ in range(edits):
        kind = rng.randrange(7)
        i = rng.randrange(len(words)) if words else 0
        if kind == 0 and len(words) > 2:
            del words[i]
        elif kind == 1 and len(words) > 1:
            j = min(i + 1, len(words) - 1)
            words[i], words[j] = words[j], words[i]
        elif kind == 2:
            words.insert(i, rng.choice(FILLERS))
        elif kind == 3 and words:
            alternatives = SYNONYMS.get(words[i].lower().strip(".,?"))
            words[i] = rng.choice(alternatives) if alternatives else words[i].upper()
        elif kind == 4:
            words.append(rng.choice(["Be concise.", "Use bullet points.", "Explain your answer.",
                                     "in detail", "for kids"]))
        elif kind == 5 and words:
            words[i] = words[i].rstrip(".?!,") + rng.choice([",", "!", "?", ";", " -"])
        else:
            words = [w.lower() for w in words]
    return " ".join(words)


def _fresh(rng: random.Random) -> str:
    """One instruction from the grammar."""
    return _dress(rng, rng.choice(TEMPLATES)(rng))


def generate(n: int, *, seed: int = 0,
             near_duplicate_share: float = NEAR_DUPLICATE_SHARE) -> list[str]:
    """A stream of `n` instructions; `near_duplicate_share` of them paraphrase an earlier one."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < near_duplicate_share:
            out.append(mutate(rng, rng.choice(out), rng.randint(1, 4)))
        else:
            out.append(_fresh(rng))
    return out


def generate_queries(pool: Sequence[str], n: int, *, seed: int = 1,
                     duplicate_share: float = QUERY_DUPLICATE_SHARE) -> list[str]:
    """`n` candidates as the filter sees them: fresh ones, paraphrases and verbatim repeats."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        roll = rng.random()
        if pool and roll < duplicate_share * (5 / 30):
            out.append(rng.choice(pool))
        elif pool and roll < duplicate_share:
            out.append(mutate(rng, rng.choice(pool), rng.randint(1, 3)))
        else:
            out.append(_fresh(rng))
    return out
