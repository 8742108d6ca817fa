"""Word lists the simulator composes its text from (data only, no logic).

Invariant: no entry contains a word of Self-Instruct's keyword blacklist (image, graph, file,
map, draw, plot, go to, video, audio, music, picture, flowchart, diagram): novel instructions
must pass the keyword filter, and only the deliberately bad ones in `BLACKLISTED` may fail it.
"""

from __future__ import annotations

SUBJECTS: tuple[str, ...] = (
    "renewable energy", "urban gardening", "the French Revolution", "black holes",
    "remote work", "coral reefs", "sourdough bread", "electric cars", "the stock market",
    "social media", "sleep hygiene", "volcanoes", "machine translation", "jazz",
    "chess openings", "the immune system", "public libraries", "recycling", "board games",
    "space tourism", "honeybees", "minimalism", "cryptocurrency", "marathon training",
    "ancient Rome", "photosynthesis", "climate change", "first aid", "time management",
    "vegan cooking", "the water cycle", "medieval castles", "game design", "meditation",
    "the Industrial Revolution", "tea ceremonies", "composting", "wind turbines",
    "public speaking", "the Roman Empire", "desert ecosystems", "household budgeting",
    "quantum computing", "origami", "street food", "the Olympic Games", "bird migration",
    "container shipping", "the printing press", "rainforests", "vaccines", "bicycle commuting",
    "online privacy", "fermented foods", "the Silk Road", "plate tectonics", "job interviews",
    "open source software", "the Moon landing", "tidal energy", "knitting", "wildfires",
    "ocean currents", "dinosaurs", "the Renaissance", "home insulation", "beekeeping",
    "solar panels", "supply chains", "microplastics", "the human brain", "volunteering",
    "urban planning", "ancient Egypt", "coffee roasting", "rock climbing", "the Great Depression",
    "artificial intelligence", "cloud computing", "language learning", "small businesses",
    "public transportation", "water purification", "the Cold War", "mushroom foraging",
    "electric guitars", "credit scores", "the periodic table", "earthquakes", "hiking safety",
    "poetry slams", "mental health", "food deserts", "nuclear fusion", "the Amazon River",
    "pottery", "bread baking", "personal finance", "Mars exploration", "glaciers",
    "the Byzantine Empire", "urban wildlife", "password security", "carpooling", "astronomy",
    "the gig economy", "wetlands", "ballet", "shipwrecks", "antibiotics", "tropical storms",
    "the Great Barrier Reef", "winter camping", "calligraphy", "genetic engineering",
    "the Aztec civilization", "smart homes", "rainwater harvesting", "the Olympic marathon",
    "circus arts", "fast fashion", "handwriting", "spaced repetition", "the Viking Age",
    "lighthouses", "tree planting", "electric scooters", "sign language", "3D printing",
    "hot air balloons", "the Panama Canal", "birdwatching", "cheese making", "submarines",
    "the Hubble telescope", "stand-up comedy", "typography", "rare earth metals", "quilting",
    "the history of chocolate", "penguins", "sustainable fishing", "cybersecurity",
    "the Harlem Renaissance", "tiny houses", "noise pollution", "robotics competitions",
    "the Mongol Empire", "kombucha", "sand dunes", "hydroponics", "ancient Greek theater",
    "airport logistics", "the Apollo program", "skateboarding", "bonsai trees", "the Arctic",
    "online education", "team sports", "childhood obesity", "food labels", "the Euro",
    "crossword puzzles", "the invention of the telephone", "desalination", "forest bathing",
    "drones", "urban heat islands", "sleep cycles", "moths", "mountain railways", "wool",
)

FACETS: tuple[str, ...] = (
    "the history of {s}", "the benefits of {s}", "common misconceptions about {s}",
    "the future of {s}", "the environmental impact of {s}", "the main challenges of {s}",
    "the economics of {s}", "ethical questions raised by {s}", "recent advances in {s}",
    "the science behind {s}", "everyday uses of {s}", "the risks of {s}",
    "the cultural significance of {s}", "beginner mistakes in {s}", "the role of {s} in education",
    "how {s} affects local communities", "the pros and cons of {s}", "myths and facts about {s}",
)

CHARACTERS: tuple[str, ...] = (
    "a lighthouse keeper", "a retired astronaut", "a nervous chef", "a talking cat",
    "a young inventor", "a lonely robot", "a stubborn farmer", "a time traveler",
    "a shy librarian", "a street musician", "a curious octopus", "a forgetful wizard",
    "a night-shift nurse", "a teenage detective", "an elderly gardener", "a runaway balloon",
    "a polar bear cub", "a ship's cook", "a mountain guide", "a grumpy mail carrier",
    "a first-year teacher", "a tired superhero", "a village baker", "a lost tourist",
)

CHARACTER_ACTIONS: tuple[str, ...] = (
    "discovers a hidden door", "loses an important key", "befriends a stranger",
    "wins an unexpected prize", "tries to cross a frozen lake", "finds an old letter",
    "must solve a puzzle before sunset", "opens a small shop", "learns to swim at sixty",
    "gets stuck in an elevator", "travels to the bottom of the sea", "forgets their own name",
    "plants a garden on the roof", "receives a mysterious package", "misses the last train",
)

WRITE_VERBS: tuple[str, ...] = ("Write", "Compose", "Draft", "Create", "Craft", "Produce")

TONES: tuple[str, ...] = (
    "short", "humorous", "heartfelt", "suspenseful", "rhyming", "melancholic", "whimsical",
    "formal", "playful", "dramatic", "optimistic", "sarcastic", "gentle", "mysterious",
    "two-paragraph", "one-sentence", "lighthearted", "persuasive", "nostalgic", "inspiring",
)

CREATIVE_FORMS: tuple[str, ...] = (
    "poem", "story", "limerick", "fable", "monologue", "letter", "diary entry", "speech",
    "wedding toast", "news headline", "product description", "tweet", "slogan", "riddle",
    "haiku", "sonnet", "bedtime story", "movie pitch", "advertisement", "song chorus",
    "thank-you note", "opening paragraph for a novel", "scene for a play", "travel blog post",
    "restaurant review", "obituary for a houseplant", "motivational quote", "comic dialogue",
    "book blurb", "podcast introduction", "radio commercial", "campfire tale",
)

WRITING_CONSTRAINTS: tuple[str, ...] = (
    "using no more than fifty words", "without using the letter e",
    "in the style of a pirate", "that ends with a surprising twist",
    "from the perspective of an old tree", "and give it a catchy title",
    "that includes at least three colors", "in exactly four lines",
    "written as a series of text messages", "that a six-year-old could understand",
    "using only words of one syllable", "in the voice of a sports commentator",
    "set one hundred years in the future", "that rhymes in every second line",
    "with a moral at the end", "told backwards from the ending",
    "that mentions a famous landmark", "in the form of a recipe",
    "as if it were a weather forecast", "where every sentence starts with the same letter",
)

AUDIENCES: tuple[str, ...] = (
    "a five-year-old", "a group of high school students", "my grandmother",
    "a new employee", "a curious tourist", "a busy parent", "a first-year college student",
    "someone who has never used a computer", "a room full of engineers", "a skeptical investor",
    "a teenager", "a retired teacher", "a city council", "a beginner gardener",
    "a non-native English speaker", "an elementary school class", "a nervous patient",
    "a hiring manager", "a book club", "a sports team",
)

EXPLAIN_VERBS: tuple[str, ...] = (
    "Explain", "Describe", "Summarize", "Outline", "Discuss", "Clarify", "Break down",
    "Give an overview of", "Illustrate with examples", "Walk me through",
)

SENTENCE_COUNTS: tuple[str, ...] = (
    "two sentences", "three sentences", "one paragraph", "five bullet points",
    "under one hundred words", "a single tweet", "plain language", "simple terms",
    "a short paragraph", "four short sentences",
)

NUMBERS: tuple[str, ...] = ("three", "four", "five", "six", "seven", "ten", "two", "eight")

LIST_ADJECTIVES: tuple[str, ...] = (
    "practical", "creative", "unusual", "affordable", "quick", "surprising", "simple",
    "eco-friendly", "low-cost", "evidence-based", "fun", "memorable", "realistic", "safe",
    "original", "effective", "little-known", "healthy", "relaxing", "efficient",
)

LIST_THINGS: tuple[str, ...] = (
    "ways to reduce food waste at home", "names for a bakery that sells vegan pastries",
    "activities for a rainy afternoon", "questions to ask at the end of a job interview",
    "gifts for someone who loves hiking", "strategies for staying focused while studying",
    "habits that improve sleep quality", "icebreaker games for a team meeting",
    "ways to save money on groceries", "topics for a persuasive essay",
    "side dishes for a summer barbecue", "exercises that need no equipment",
    "reasons to learn a second language", "hobbies that can be done indoors",
    "tips for writing a clear email", "themes for a children's birthday party",
    "arguments for a four-day work week", "ways to make a small apartment feel bigger",
    "snacks to bring on a long road trip", "methods for memorizing vocabulary",
    "ideas for a school science fair project", "ways to welcome a new neighbor",
    "slogans for a campaign against littering", "questions for a customer satisfaction survey",
    "plants that survive in low light", "steps to prepare for a job fair",
    "ways to reduce screen time for kids", "features of a good password manager",
    "warning signs of burnout", "things to pack for a week at the beach",
    "ways to celebrate a colleague's retirement", "excuses for being late that sound believable",
    "uses for an empty glass jar", "reasons people enjoy true crime podcasts",
    "breakfast ideas without eggs", "ways to practice gratitude every day",
    "fundraising ideas for a local animal shelter", "questions to ask a landlord",
    "ways to keep a conversation going", "mistakes to avoid when buying a used car",
)

LIST_VERBS: tuple[str, ...] = (
    "List", "Suggest", "Brainstorm", "Give me", "Come up with", "Name", "Propose",
    "Recommend", "Think of", "Provide",
)

GOALS: tuple[str, ...] = (
    "stay motivated while working from home", "learn to cook on a tight budget",
    "become a better listener", "prepare for a long-distance run",
    "keep houseplants alive during winter", "overcome a fear of public speaking",
    "make new friends in a new city", "read more books every year",
    "negotiate a higher salary", "teach a child to ride a bike",
    "organize a cluttered garage", "reduce my household energy bill",
    "write a strong college application essay", "start a vegetable garden on a balcony",
    "improve my handwriting", "travel with a large dog", "stop procrastinating on big projects",
    "plan a surprise party without anyone finding out", "take better notes in lectures",
    "get along with a difficult coworker", "learn basic car maintenance",
    "cut down on sugar", "build a habit of journaling", "choose a good laptop for school",
    "host a dinner for twelve people", "train for a mountain hike",
    "support a friend who is grieving", "remember people's names",
    "set up a monthly budget", "fall asleep faster",
    "learn to play chess well", "drink more water during the day", "save for a first home",
    "keep a long-distance friendship alive", "prepare a toddler for a new sibling",
    "get better at mental math", "make a small garden attract butterflies",
    "pack light for a two-week trip", "speak up more in meetings", "learn to bake bread",
    "get my kids to read more", "decide between two job offers", "cook fish without the smell",
    "write a thank-you letter that sounds sincere", "stay calm during a flight",
    "clean a laptop keyboard safely", "get started with birdwatching", "make a budget wedding",
    "improve my posture at a desk", "learn the names of the stars",
)

QUESTION_STARTS: tuple[str, ...] = (
    "What are some tips to", "How can I", "What is the best way to", "What should I know to",
    "What are common mistakes people make when they try to", "Can you help me figure out how to",
    "What steps should I take to", "Is it possible to",
)

SITUATIONS: tuple[str, ...] = (
    "I just moved to a new country and do not speak the language",
    "My team missed an important deadline", "I have an exam in three days",
    "My neighbor plays loud drums every night", "I was offered two jobs at the same time",
    "My best friend forgot my birthday", "I want to switch careers at forty",
    "My laptop is running very slowly", "I accidentally deleted an important email",
    "My small bakery is losing customers", "I need to give a toast at my sister's wedding",
    "My cat refuses to eat its new food", "I have to fire an employee for the first time",
    "I feel overwhelmed by my to-do list", "I am hosting guests with different diets",
)

HELP_REQUESTS: tuple[str, ...] = (
    "What should I do?", "Can you give me some advice?", "How should I handle it?",
    "Can you suggest a plan?", "What would you recommend?", "Please help me think it through.",
)

COMPARE_PAIRS: tuple[tuple[str, str], ...] = (
    ("cats", "dogs"), ("trains", "planes"), ("e-books", "printed books"),
    ("renting", "buying a home"), ("tea", "coffee"), ("solar power", "wind power"),
    ("Python", "JavaScript"), ("city life", "country life"), ("running", "swimming"),
    ("public schools", "private schools"), ("capitalism", "socialism"),
    ("baking", "frying"), ("board games", "card games"), ("democracy", "monarchy"),
    ("introverts", "extroverts"), ("classical ballet", "hip hop dance"),
    ("credit cards", "debit cards"), ("tennis", "badminton"), ("email", "phone calls"),
    ("freelancing", "full-time employment"), ("viruses", "bacteria"),
    ("weather", "climate"), ("stocks", "bonds"), ("autumn", "spring"),
    ("the Moon", "Mars"), ("chess", "checkers"), ("cotton", "polyester"),
    ("yoga", "pilates"), ("electric cars", "hybrid cars"), ("online classes", "classroom lessons"),
    ("rice", "pasta"), ("trains", "buses"), ("newspapers", "podcasts"), ("hotels", "hostels"),
    ("laptops", "tablets"), ("gas stoves", "induction cooktops"), ("wool", "fleece"),
    ("coral reefs", "kelp forests"), ("Jupiter", "Saturn"), ("poetry", "prose"),
)

ASPECTS: tuple[str, ...] = (
    "cost", "health effects", "environmental impact", "convenience", "long-term value",
    "safety", "popularity", "ease of learning", "comfort", "speed", "reliability",
    "social impact", "flexibility", "daily routine", "energy use",
)

PLAN_KINDS: tuple[str, ...] = (
    "weekly meal plan", "three-day itinerary", "study schedule", "workout routine",
    "reading list", "packing checklist", "morning routine", "marketing plan",
    "lesson plan", "savings plan", "cleaning schedule", "training program",
    "onboarding checklist", "party menu", "weekend itinerary", "garden layout",
)

PLAN_FOR: tuple[str, ...] = (
    "a family of four on a budget", "a college student with a part-time job",
    "a first visit to Tokyo", "a beginner who wants to run a 5K", "a vegetarian athlete",
    "a small nonprofit", "a trip to the mountains in winter", "a class of ten-year-olds",
    "someone recovering from a knee injury", "a couple celebrating their anniversary",
    "a new coffee shop", "a week of exam preparation", "a rainy weekend in London",
    "a retiree who wants to stay active", "a remote team spread across three time zones",
)

TEXT_KINDS: tuple[str, ...] = (
    "paragraph", "sentence", "news article", "product review", "email", "tweet",
    "short story", "movie review", "recipe", "poem", "customer complaint", "dialogue",
    "speech", "restaurant review", "job posting", "text message", "essay", "headline",
    "blog post", "press release", "lecture transcript", "cover letter", "user comment",
    "legal notice", "book summary", "weather report",
)

TRANSFORMS: tuple[str, ...] = (
    "rewrite it in a more formal tone", "rewrite it so that a child can understand it",
    "shorten it to half its length without losing the main point",
    "identify the main argument and the evidence that supports it",
    "extract all the dates and the events they refer to",
    "find the sentence that is least relevant to the topic",
    "suggest a better title", "correct all the spelling and grammar mistakes",
    "turn it into a list of bullet points", "write three questions a reader might ask about it",
    "identify the intended audience", "replace every adjective with a more vivid one",
    "rewrite it from the point of view of another character",
    "point out any logical fallacies", "write a one-sentence summary",
    "translate it into Spanish", "convert it into a polite reply",
    "find the most important keywords", "explain what the author wants the reader to do",
    "rewrite it without using any passive voice", "add a strong concluding sentence",
    "count how many times each person is mentioned", "list the named organizations in it",
    "paraphrase it in simpler words", "rewrite it as a formal apology",
)

INPUT_THINGS: tuple[str, ...] = (
    "a list of ingredients", "a set of numbers", "a company name", "a word",
    "a person's job title", "a recipe", "a list of cities", "a historical date",
    "the name of a country", "a table of monthly expenses", "a pair of sentences",
    "a description of a symptom", "a short poem", "a list of tasks with deadlines",
    "a customer question", "a math equation", "a list of book titles", "a product name",
    "a paragraph of legal text", "an English idiom", "a sequence of events",
    "a function written in Python", "a list of student grades", "a flight schedule",
)

INPUT_TASKS: tuple[str, ...] = (
    "suggest a dish that can be made with them", "find the two that add up to the largest sum",
    "write a short slogan for it", "generate three rhyming words",
    "describe a typical day in that role", "estimate how long it takes to prepare",
    "sort them from north to south", "describe what happened on that day",
    "name its capital and official languages", "find the month with the highest spending",
    "tell which one is more polite", "suggest which doctor to see", "explain its meaning",
    "order them by priority", "write a friendly answer", "solve it step by step",
    "group them by genre", "write a one-line advertisement", "summarize it in plain English",
    "explain where it comes from and how to use it", "put them in chronological order",
    "explain what it does and suggest an improvement", "compute the class average",
    "find the shortest connection between two cities",
)

LANGUAGES: tuple[str, ...] = (
    "French", "Spanish", "German", "Japanese", "Italian", "Portuguese", "Korean", "Dutch",
    "Swahili", "Turkish", "Polish", "Hindi",
)

ROLES: tuple[str, ...] = (
    "a travel agent", "a personal trainer", "a museum guide", "a career coach",
    "a customer service agent", "a science teacher", "a nutritionist", "a tour guide in Rome",
    "a librarian", "a financial advisor", "a park ranger", "a wedding planner",
    "a software mentor", "a medieval knight", "a news anchor", "a kindergarten teacher",
    "a ship captain", "a zookeeper", "a mountain rescue volunteer", "a startup founder",
    "a movie critic", "a dentist", "a chess coach", "a radio DJ", "a fitness instructor",
)

ROLE_TASKS: tuple[str, ...] = (
    "answer a client's question about cancelling a booking",
    "design a plan for someone who wants to get fit in two months",
    "describe the most interesting exhibit to a group of visitors",
    "give advice to someone who wants to change jobs",
    "respond to a customer whose order arrived late",
    "introduce the topic of magnetism to a class",
    "recommend a week of healthy lunches", "greet a group of tourists",
    "help a student find sources for a research paper",
    "explain how to start saving for retirement", "warn hikers about a coming storm",
    "help a couple choose a wedding theme", "review a beginner's code and give feedback",
    "describe your daily duties", "report the morning's top story in three sentences",
)

CONCEPTS: tuple[str, ...] = (
    "compound interest", "supply and demand", "natural selection", "the greenhouse effect",
    "inflation", "opportunity cost", "gravity", "the placebo effect", "machine learning",
    "blockchain", "the scientific method", "herd immunity", "photosynthesis", "entropy",
    "confirmation bias", "the water cycle", "plate tectonics", "democracy", "recursion",
    "the butterfly effect", "cognitive dissonance", "net neutrality", "the food chain",
    "osmosis", "game theory", "the Doppler effect", "impostor syndrome", "carbon offsets",
    "marginal utility", "the tragedy of the commons", "sunk cost fallacy", "compound growth",
    "the bystander effect", "circadian rhythms", "economies of scale", "the Pareto principle",
    "photosynthetic efficiency", "buoyancy", "friction", "echo chambers", "inflation targeting",
    "the Dunning-Kruger effect", "biodiversity", "ocean acidification", "the law of averages",
    "price elasticity", "neuroplasticity", "social proof", "the trolley problem", "latency",
    "encryption", "compound words", "irony", "the rule of thirds", "active listening",
)

MATH_TASKS: tuple[str, ...] = (
    "Calculate the area of a triangle with a base of {a} cm and a height of {b} cm",
    "Find all prime numbers between {a} and {c}",
    "How many minutes are there in {a} days",
    "Compute the average of the numbers {a}, {b} and {c}",
    "If a train travels {c} kilometers in {a} hours, what is its average speed",
    "Convert {c} degrees Fahrenheit to Celsius and show the formula",
    "What is {a} percent of {c}",
    "Solve for x: {a}x + {b} = {c}",
    "A recipe needs {a} eggs for {b} servings. How many eggs are needed for {c} servings",
    "Find the greatest common divisor of {b} and {c}",
    "Estimate how many liters of water a person drinks in {a} years",
    "Round {c}.{b} to the nearest ten and explain the rule",
)

CLASSIFY_SHAPES: tuple[str, ...] = (
    "Classify whether the following {t} is {a} or {b}",
    "Tell me if the {t} {prop}",
    "Determine whether the given {t} about {s} is {a} or {b}",
    "Identify the sentiment of the following {t} about {s}",
    "Is the following statement about {s} true or false",
    "Which category does the following {t} belong to: {c1}, {c2}, or {c3}",
    "Decide whether each {t} in the list {prop}",
    "Classify the {t} into one of these groups: {c1}, {c2}, {c3}",
    "Tell me whether the author of the {t} {prop}",
    "Detect whether the {t} {prop}. Answer yes or no",
    "Given a {t}, classify its tone as {a} or {b}",
    "Label the following {t} as spam or not spam",
    "Determine if the two sentences about {s} contradict each other",
    "Is the argument in the following {t} valid? Answer yes or no",
    "Classify the following animal as a mammal, bird, reptile or fish",
    "Identify whether the word is a noun, a verb or an adjective in the {t}",
)

LABEL_PAIRS: tuple[tuple[str, str], ...] = (
    ("positive", "negative"), ("formal", "informal"), ("fact", "opinion"),
    ("serious", "humorous"), ("helpful", "unhelpful"), ("urgent", "not urgent"),
    ("polite", "rude"), ("biased", "neutral"), ("clear", "confusing"),
    ("literal", "figurative"), ("relevant", "irrelevant"), ("safe", "unsafe"),
    ("sincere", "ironic"), ("beginner-friendly", "expert-level"), ("complete", "incomplete"),
    ("persuasive", "descriptive"), ("ambiguous", "unambiguous"), ("cheerful", "gloomy"),
)

PROPERTIES: tuple[str, ...] = (
    "contains a grammatical error", "mentions a specific date", "is written in the past tense",
    "expresses an opinion", "asks a question", "includes sarcasm", "makes a promise",
    "contains personal information", "uses a metaphor", "is likely to be fake news",
    "would offend a reader", "sounds like an advertisement", "agrees with the headline",
    "contradicts itself", "mentions a price", "is addressed to a child", "uses the first person",
    "contains a request", "could be a line from a poem", "complains about a delay",
    "recommends a product", "refers to the weather", "exaggerates the facts",
    "contains a rhetorical question", "is appropriate for a workplace", "mentions a famous person",
)

CATEGORY_SETS: tuple[tuple[str, str, str], ...] = (
    ("sports", "politics", "technology"), ("breakfast", "lunch", "dinner"),
    ("fiction", "biography", "science"), ("fruit", "vegetable", "grain"),
    ("comedy", "drama", "horror"), ("billing", "shipping", "technical support"),
    ("beginner", "intermediate", "advanced"), ("weather", "finance", "health"),
    ("praise", "complaint", "question"), ("animal", "plant", "mineral"),
)

PREFIXES: tuple[str, ...] = (
    "For a school newsletter", "As part of a team-building workshop", "For my cousin's birthday",
    "Before a job interview next week", "In preparation for a history exam",
    "For a podcast episode about {s}", "While traveling in {p}", "For a community workshop",
    "For a presentation at work", "To help a friend who is moving to {p}",
    "For a class project on {s}", "As a warm-up exercise for a writing club",
    "For the company blog", "For a local radio show", "For a library event on {s}",
    "During a long train ride", "For a charity fundraiser", "For a parents' evening",
    "For an online course about {s}", "To prepare for a debate on {s}",
    "For a family reunion", "For a guided museum tour in {p}", "For a student council meeting",
    "For a neighborhood association", "To cheer up a colleague", "For a science club",
)

SUFFIXES: tuple[str, ...] = (
    "Keep your answer under {n} words.", "Use a {tone} tone.",
    "Explain your reasoning step by step.",
    "Format the answer as a numbered list.", "Present the result as a table with two columns.",
    "Include one concrete example.", "Mention {s} at least once.", "Avoid technical jargon.",
    "Write it for {a}.", "Give one reason for each point.", "Finish with a short summary.",
    "Add a title at the top.", "Do not use more than {n} sentences.",
    "Make it suitable for {a}.", "Start your answer with the name {name}.",
    "Use British spelling.", "Address the reader directly.", "Put the most important point first.",
    "Assume the reader lives in {p}.", "End with a question for the reader.",
    "Be honest about any uncertainty.", "Avoid repeating the same word twice.",
    "Use at least one comparison to {s}.", "Write no more than {n} lines.",
    "Make every item start with a verb.", "Keep the language positive and encouraging.",
    "Include a short warning where it is needed.", "Assume a budget of {n} dollars.",
    "Add an estimated time for each step.", "Finish with a practical tip.",
    "Sort the points from most to least important.", "Use simple words and short sentences.",
    "Include a quote from {name}, a made-up expert.", "Use humor, but stay respectful.",
    "Make sure a busy reader can skim it.", "Assume the reader has {n} minutes to spare.",
)

CLASSIFY_SUFFIXES: tuple[str, ...] = (
    "Answer yes or no.", "Output only the label.", "Explain your decision in one sentence.",
    "If you are unsure, pick the closer label.", "Give the label and a confidence score.",
    "Quote the words that support your answer.", "Answer with a single word.",
)

WORD_COUNTS: tuple[str, ...] = ("50", "80", "100", "120", "150", "200", "30", "60", "5", "3")

RELATIONS: tuple[str, ...] = (
    "best friend", "manager", "roommate", "landlord", "younger brother", "neighbor",
    "teenage daughter", "business partner", "grandfather", "coworker", "teacher", "sister",
    "dog", "partner", "professor", "team captain",
)

PROBLEMS: tuple[str, ...] = (
    "keeps borrowing money and never pays it back", "forgot my birthday again",
    "wants me to work every weekend", "never does the dishes", "refuses to answer my messages",
    "is moving to another country next month", "takes credit for my ideas",
    "is nervous about starting a new school", "spends too much time on the phone",
    "asked me to lend them my car", "keeps interrupting me in meetings",
    "is struggling with a difficult exam", "wants to adopt three more cats",
    "disagrees with every plan I suggest", "is planning a surprise trip that I already know about",
    "has stopped eating vegetables", "wants to quit college to start a band",
    "complains about the noise from my apartment", "is always late to our meetings",
    "just got promoted and seems stressed",
)

BUSINESSES: tuple[str, ...] = (
    "a bakery that sells vegan pastries", "a bike repair shop", "a dog grooming salon",
    "a small bookstore with a cafe", "a mobile app for tracking water intake",
    "a yoga studio for seniors", "a food truck selling tacos", "a coding school for kids",
    "a cleaning service that uses only natural products", "a board game cafe",
    "a podcast about local history", "a second-hand clothing store", "a plant nursery",
    "a language exchange club", "a travel agency for solo travelers", "a home bakery",
    "a tutoring service for math", "a recycling startup", "an escape room", "a tea shop",
)

NAMING_THINGS: tuple[str, ...] = (
    "names", "slogans", "taglines", "social media posts", "opening lines for an ad",
    "ideas for a logo", "customer loyalty rewards", "launch event ideas",
)

LIST_HEADS: tuple[str, ...] = (
    "ways to", "tips to", "strategies to", "tricks to", "reasons to", "small habits that help you",
    "mistakes to avoid when you try to", "questions to ask yourself before you try to",
)

OCCASIONS: tuple[str, ...] = (
    "a rainy afternoon", "a long road trip", "a summer barbecue", "a baby shower",
    "a team retreat", "a first date", "a school reunion", "a snowy weekend", "a graduation party",
    "a beach holiday", "a camping trip", "a housewarming party", "a farewell dinner",
    "a sleepover", "a picnic in the park", "a science fair", "a retirement party",
    "a charity run", "a quiet evening at home", "a holiday market",
)

OCCASION_THINGS: tuple[str, ...] = (
    "activities", "games", "snacks", "gifts", "conversation starters", "outfits",
    "decorations", "side dishes", "playlists themes", "things to pack", "drinks",
)

ENTITIES: tuple[str, ...] = (
    "dates", "names of people", "places", "numbers", "verbs", "adjectives", "questions",
    "company names", "prices", "quotes", "book titles", "measurements", "email addresses",
    "phone numbers", "colors", "animals", "job titles", "countries", "food items", "emotions",
)

EXTRACT_VERBS: tuple[str, ...] = (
    "extract all the", "list all the", "find every one of the", "highlight the", "collect the",
    "pull out the", "count the", "underline the",
)

EXTRACT_FORMATS: tuple[str, ...] = (
    "as a comma-separated list", "in order of appearance", "and say how often each appears",
    "in a table with two columns", "sorted alphabetically", "grouped by type",
    "and explain why each one matters", "without duplicates", "",
)

REWRITE_MANNERS: tuple[str, ...] = (
    "in a more formal tone", "so that a child can understand it", "as a pirate would say it",
    "in the second person", "as a news headline", "in fewer than twenty words",
    "without any adjectives", "from the perspective of {c}", "for {a}", "in the style of {st}",
    "as a short poem", "as a list of instructions", "as a polite complaint",
    "with more vivid verbs", "in the past tense", "as a conversation between two friends",
    "to sound more confident", "to be gender-neutral", "as a text message", "in plain English",
)

STYLES: tuple[str, ...] = (
    "a fairy tale", "a sports report", "a legal contract", "a cooking show", "Shakespeare",
    "a nature documentary", "a detective novel", "a children's book", "a job advertisement",
    "a motivational speech", "a weather forecast", "an old newspaper",
)

QUALITIES: tuple[str, ...] = (
    "clarity", "politeness", "persuasiveness", "originality", "readability", "accuracy",
    "tone", "structure", "humor", "formality", "emotional impact", "level of detail",
)

QUESTION_KINDS: tuple[str, ...] = (
    "multiple-choice questions", "true-or-false questions", "discussion questions",
    "short-answer questions", "follow-up questions", "trick questions", "interview questions",
    "quiz questions",
)

QUESTION_PURPOSES: tuple[str, ...] = (
    "that test comprehension of it", "a curious reader might ask about it",
    "for a classroom discussion", "that check the facts it contains",
    "that a journalist would ask the author", "to start a debate",
)

DEBATE_VERBS: tuple[str, ...] = (
    "Argue", "Make the case", "Write a short debate speech", "Write a persuasive paragraph",
    "Give three arguments", "Build a case", "Prepare talking points",
)

MATH_STORIES: tuple[str, ...] = (
    "{name} buys {a} {item} at {b} dollars each. How much does {name} spend in total",
    "{name} reads {b} pages a day. How many days does a book of {c} pages take",
    "A shop in {p} sells {item} for {b} dollars. What do {a} of them cost after a 10% discount",
    "{name} walks {a} kilometers every morning. How far is that in {b} weeks",
    "A class of {b} students shares {c} {item} equally. How many does each student get",
    "{name} saves {b} dollars a week. How long until {name} has {c} dollars",
    "A train leaves {p} at {a} o'clock and travels for {b} hours. When does it arrive",
    "{name} has {c} {item} and gives away {b}. How many are left",
)

MATH_ITEMS: tuple[str, ...] = (
    "apples", "notebooks", "concert tickets", "pencils", "plants", "bus passes", "cookies",
    "stickers", "tomatoes", "marbles",
)

EXAMPLE_CONTEXTS: tuple[str, ...] = (
    "from everyday life", "in sports", "at the workplace", "in nature", "in history",
    "in children's stories", "in online shopping", "in the kitchen", "in traffic",
    "in school", "in politics", "in famous novels", "in medicine", "in a small town",
)

LABEL_QUESTIONS: tuple[str, ...] = (
    "is {a} or {b}", "sounds {a} or {b}", "should be labeled {a} or {b}",
    "reads as {a} rather than {b}", "would be considered {a} or {b}",
)

CLASSIFY_VERBS: tuple[str, ...] = (
    "Classify whether", "Tell me if", "Determine whether", "Decide if", "Check whether",
    "Judge whether", "Find out if", "Predict whether", "Say whether", "Indicate whether",
)

CLASSIFY_OBJECTS: tuple[str, ...] = (
    "the following {t}", "the given {t}", "this {t}", "each {t} in the list", "the {t} below",
    "the {t} written by {r}", "the {t} sent by a customer", "the opening line of the {t}",
)

BLACKLISTED: tuple[str, ...] = (
    "Draw a simple sketch of {s} and label its parts",
    "Create a graph showing how {s} changed over the last decade",
    "Plot the monthly costs of {s} on a chart",
    "Describe the image of {s} that is attached",
    "Make a map of the places associated with {s}",
    "Go to the website about {s} and summarize what you find",
    "Save your notes about {s} in a text file",
    "Compose background music for a documentary about {s}",
    "Record a short audio clip explaining {s}",
    "Design a flowchart for learning about {s}",
    "Watch a video about {s} and list its main points",
    "Find a picture that represents {s}",
)

PROGRAM_TASKS: tuple[str, ...] = (
    "Write a program that counts the vowels in a sentence",
    "Write a program to sort a list of names alphabetically",
    "Write a program that checks whether a number is a palindrome",
    "Write a program that converts Celsius to Fahrenheit",
    "Write a program to find the largest element in a list",
    "Write a program that prints the first twenty Fibonacci numbers",
    "Write a program that reverses the words of a sentence",
    "Write a program to compute the factorial of a number",
)

SHORT: tuple[str, ...] = (
    "Tell a joke.", "Name three colors.", "Define entropy.", "Summarize this.",
    "Write a haiku.", "Describe Paris.", "Count to ten.", "Explain gravity.",
    "Say hello.", "List fruits.", "Spell necessary.", "Name a river.",
)

BAD_STARTS: tuple[str, ...] = (
    '"Quick" - write a short note about {s}',
    "(Optional) Describe {s} in one sentence",
    "- Explain why {s} matters",
    "* List three facts about {s}",
)

# near-duplicate edits: word -> a synonym the model might use instead
SYNONYMS: dict[str, str] = {
    "write": "compose", "compose": "write", "create": "make", "make": "create",
    "give": "provide", "provide": "give", "find": "identify", "identify": "find",
    "list": "enumerate", "short": "brief", "brief": "short", "describe": "explain",
    "explain": "describe", "suggest": "recommend", "recommend": "suggest",
    "following": "given", "given": "following", "some": "a few", "good": "great",
    "sentence": "phrase", "story": "tale", "question": "query", "answer": "reply",
    "help": "assist", "show": "demonstrate", "generate": "produce", "produce": "generate",
    "choose": "select", "select": "choose", "big": "large", "small": "little",
    "quick": "fast", "people": "persons", "word": "term", "words": "terms",
    "tell": "inform", "use": "utilize", "using": "utilizing", "examples": "instances",
    "important": "significant", "healthy": "nutritious", "plan": "schedule",
}

GENERIC_OPENERS: tuple[str, ...] = (
    "Here is a short answer.", "That is a good question.", "In short, it depends on context.",
    "Thanks for asking.", "Let me answer briefly.",
)

NAMES: tuple[str, ...] = (
    "Maria", "James", "Aiko", "Omar", "Lena", "Carlos", "Priya", "Tom", "Fatima", "Noah",
    "Sofia", "Kwame", "Elena", "Liam", "Mei", "Jonas",
)

PLACES: tuple[str, ...] = (
    "Lisbon", "Nairobi", "Toronto", "Kyoto", "Oslo", "Lima", "Melbourne", "Cairo",
    "Seattle", "Prague", "Austin", "Hanoi", "Dublin", "Mumbai",
)

POSITIVE_PHRASES: tuple[str, ...] = (
    "I absolutely loved it", "this exceeded my expectations", "the staff were wonderful",
    "I would recommend it to anyone", "it was worth every penny", "a delightful experience",
)

NEGATIVE_PHRASES: tuple[str, ...] = (
    "I was really disappointed", "it broke after two days", "the service was painfully slow",
    "I would not buy it again", "a complete waste of money", "nothing worked as promised",
)

STOPWORDS: frozenset[str] = frozenset(
    """a an the and or but if of to in on at by for with about from into over under as is are
    was were be been being this that these those it its it's i you he she we they me my your our
    their his her them us do does did done can could should would will shall may might must
    not no yes so than then there here what which who whom whose when where why how all any
    each few more most other some such only own same too very just also following given
    write make give tell list find describe explain create generate come up series task tasks
    one two three four five six seven eight nine ten output input example examples sentence
    word words something someone please using use based have has had better best know start
    before after next week item every reasoning answer reader more less many much way ways
    good great new old first last make made need needs want wants like without hundred
    minutes spare assume under over""".split()
)
