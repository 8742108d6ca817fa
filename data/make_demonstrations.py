# ruff: noqa: E501
"""Build data/demonstrations.jsonl, the few-shot demonstrations of the three task prompts.

Written for asyncgen, in the shape of the paper's Tables 6-8 (not their text): a fixed set, so
each stage's prompt starts with the same bytes on every request and a provider's prefix cache
can serve it. One JSON object per line, in prompt order:

    {"prompt": "classify", "instruction": ..., "is_classification": true}
    {"prompt": "input_first", "instruction": ..., "examples": [{"input": ..., "output": ...}]}
    {"prompt": "output_first", "instruction": ..., "examples": [{"label": ..., "input": ...}]}

An input is shown as written, so it carries its own field names ("Paragraph: ...",
"Code:\\n..."); that is what teaches the model to name the fields it generates (§2.2). The
classification demonstrations are in a hand-set order: no run of more than four equal answers,
and the last four are mixed, so the answer next to the query is not a foregone conclusion.

Run from the repository root:  python data/make_demonstrations.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "demonstrations.jsonl"

LINES: list[dict[str, Any]] = []


def classify(instruction: str, answer: bool) -> None:
    LINES.append({"prompt": "classify", "instruction": instruction, "is_classification": answer})


def input_first(instruction: str, *examples: tuple[str, str]) -> None:
    """Examples are (input, output); input "" for a task that needs none."""
    LINES.append(
        {
            "prompt": "input_first",
            "instruction": instruction,
            "examples": [{"input": i, "output": o} for i, o in examples],
        }
    )


def output_first(instruction: str, *examples: tuple[str, str]) -> None:
    """Examples are (class label, input); input "" when the task needs none."""
    LINES.append(
        {
            "prompt": "output_first",
            "instruction": instruction,
            "examples": [{"label": label, "input": i} for label, i in examples],
        }
    )


# --- Table 6 shape: is it a classification task? (hand-set order) --------------------------------

Y, N = True, False
classify("Write a short thank-you note to a neighbour who watered my garden while I was away.", N)
classify("Read the customer message and decide whether it is a complaint, a question, or a compliment.", Y)
classify("Suggest a name for a podcast about urban cycling and explain the choice in one sentence.", N)
classify("Given a list of cities, select the one that is furthest north.", Y)
classify("Explain to a new employee how to submit an expense report, step by step.", N)
classify("Translate the following shopping list into Spanish, keeping the quantities as they are.", N)
classify("Tell me whether the sentence uses the passive voice. Answer Passive or Active.", Y)
classify("Come up with three interview questions for a junior data analyst position.", N)
classify("Find the word in the sentence that is spelled incorrectly.", Y)
classify("Is the following statement a fact or an opinion?", Y)
classify("Summarize the meeting transcript in five bullet points for people who missed it.", N)
classify("Convert the recipe quantities from cups to grams for a baker in Germany.", N)
classify("Given a chess position in algebraic notation, is the king in check?", Y)
classify("Describe the smell of a bakery early in the morning to someone who has never been inside one.", N)
classify("Rate how urgent this IT support ticket is on a scale of Low, Medium, or High.", Y)
classify("Plan a three-day itinerary for a first visit to Lisbon on a modest budget.", N)
classify("Read the flat listing and decide which kind of tenancy it offers: short let, fixed term, or rolling contract.", Y)
classify("Write a two-paragraph welcome message for new members of a community choir, saying where and when rehearsals happen.", N)
classify("Create a packing checklist for a week-long camping trip in the mountains in early autumn, grouped by category.", N)
classify("Given a bank transaction description, assign it to one of these budget categories: groceries, transport, rent, or leisure.", Y)
classify("Give an example of a metaphor about time and explain in one sentence what it suggests.", N)
classify("Look at the list of job applicants and their years of experience, and select the one who best meets a five-year requirement.", Y)
classify("Does the paragraph contain personal information, such as a phone number or a home address? Answer Yes or No.", Y)
classify("Describe how a proposed law becomes an act of parliament, in no more than six sentences.", N)
classify("Rewrite the paragraph so that it is easier to read for a ten-year-old.", N)
classify("Which of the two products in the listing is the better value per kilogram?", Y)
classify("Generate a SQL query that returns the ten customers with the highest total order value.", N)
classify("Pick the sentence from the paragraph that states its main claim.", Y)
classify("What are some good habits for keeping a clean and tidy kitchen in a shared flat?", N)
classify("Debate the pros and cons of a four-day working week from the employer's point of view.", N)
classify("Given a product review, predict the star rating the reviewer gave, from 1 to 5.", Y)
classify("Write a limerick about a cat that refuses to leave a cardboard box.", N)
classify("Solve the equation for x and show each step of the working.", N)
classify("Decide whether the two sentences mean the same thing. Answer Same or Different.", Y)
classify("Propose a weekly workout routine for a beginner who can train three times a week.", N)
classify("Identify the programming language of the code snippet.", Y)
classify("Draft a polite email asking a professor for an extension on a term paper.", N)
classify("Tell me if this news headline is likely to be satire.", Y)
classify("List the steps to change a flat bicycle tyre at the side of the road.", N)
classify("From the list of ingredients, find the one that is not vegetarian.", Y)
classify("Explain why the sky looks red at sunset, in two or three sentences.", N)


# --- Table 7 shape: input-first, for tasks that are not classification ---------------------------

input_first(
    "Give five practical tips for keeping houseplants alive while you are away for two weeks.",
    (
        "",
        "- Water thoroughly the day before you leave and let the pots drain.\n"
        "- Move the plants away from sunny windows so they dry out more slowly.\n"
        "- Group them together in one room to keep the air around them humid.\n"
        "- Stand thirsty plants on trays of wet pebbles, or use a wick from a jar of water.\n"
        "- Ask a neighbour to check on ferns and other plants that cannot dry out at all.",
    ),
)
input_first(
    "List every date mentioned in the paragraph, in the order they appear, written as YYYY-MM-DD.",
    (
        "Paragraph: The bridge was first proposed in a council meeting on 3 March 1921, but work did not start until the spring of 1926. After a flood damaged the half-built piers on 14 November 1927, the engineers redesigned the foundations. The bridge finally opened to traffic on 1 July 1931, and it was closed for repairs between 5 January 1989 and 30 June 1990.",
        "1921-03-03, 1927-11-14, 1931-07-01, 1989-01-05, 1990-06-30",
    ),
)
input_first(
    "How many seconds are there in a leap year? Show the calculation.",
    ("", "366 days x 24 hours x 60 minutes x 60 seconds = 31,622,400 seconds."),
)
input_first(
    "Remove the duplicates from the list, keeping the first occurrence of each item in its place.",
    ("List: [4, 8, 4, 15, 16, 8, 23, 42, 15]", "[4, 8, 15, 16, 23, 42]"),
    ("List: pear, fig, apple, fig, pear, plum", "pear, fig, apple, plum"),
)
input_first(
    "Rewrite the sentence so that a ten-year-old could understand it, keeping its meaning.",
    (
        "Sentence: The municipality has postponed the inauguration of the library owing to unforeseen structural deficiencies.",
        "The town has put off opening the new library because builders found problems with the building.",
    ),
    (
        "Sentence: Photosynthesis enables plants to convert solar energy into chemical energy stored in glucose.",
        "Plants use sunlight to make sugar, and they keep that sugar as food for later.",
    ),
)
input_first(
    "Answer the question about the table. Write out the calculation before the final answer.",
    (
        "Table:\n| Month | Visitors | Tickets sold |\n| --- | --- | --- |\n| April | 1,240 | 980 |\n| May | 1,615 | 1,302 |\n| June | 2,050 | 1,744 |\n"
        "Question: How many more tickets were sold in June than in April and May together?",
        "April and May together: 980 + 1,302 = 2,282.\nJune minus that: 1,744 - 2,282 = -538.\nSo June sold 538 fewer tickets than April and May together, not more.",
    ),
)
input_first(
    "Write a Python function that solves the problem described.",
    (
        "Problem: Given a string, return the length of the longest run of the same character. For \"aabbbbc\" the answer is 4; for an empty string it is 0.",
        "def longest_run(text: str) -> int:\n"
        "    best = current = 0\n"
        "    previous = None\n"
        "    for char in text:\n"
        "        current = current + 1 if char == previous else 1\n"
        "        previous = char\n"
        "        best = max(best, current)\n"
        "    return best",
    ),
)
input_first(
    "Explain in one or two sentences what the code does and what it returns.",
    (
        "Code:\nfunction countVowels(s) {\n  return (s.match(/[aeiou]/gi) || []).length;\n}",
        "It counts the vowels in the string s, ignoring case, and returns that number (0 when there are none).",
    ),
    (
        "Code:\nSELECT department, AVG(salary)\nFROM employees\nGROUP BY department\nHAVING COUNT(*) > 10;",
        "It returns the average salary of each department that has more than ten employees.",
    ),
)
input_first(
    "Write a short, friendly reply to the email that accepts the invitation and asks one useful question.",
    (
        "Email: Hi Sam, we are organising a small workshop on open data for local charities on Thursday 12 June, 2-5 pm, at the community hall. Would you be willing to give a 20-minute talk about the volunteer map you built last year? Best, Priya",
        "Hi Priya,\n\nThank you for thinking of me. I would be glad to give a 20-minute talk on the volunteer map on 12 June.\n\nWill there be a projector and a screen in the hall, or should I bring printed handouts instead?\n\nBest wishes,\nSam",
    ),
)
input_first(
    "Summarize the dialogue in one sentence from the point of view of a neutral observer.",
    (
        "Dialogue:\n- Customer: My order arrived with two broken plates.\n- Agent: I'm sorry about that. Could you send a photo of the damage?\n- Customer: Sure, I've just attached it.\n- Agent: Thanks. A replacement set will ship tomorrow, free of charge.",
        "A customer reports two broken plates, sends a photo on request, and the agent arranges a free replacement to ship the next day.",
    ),
    (
        "Dialogue:\n- Anna: Are we still on for the hike on Saturday?\n- Ben: The forecast says heavy rain. How about Sunday instead?\n- Anna: Sunday works, but only after 10.",
        "Anna and Ben move their Saturday hike to Sunday after 10 because of the forecast rain.",
    ),
)
input_first(
    "Scale the recipe to the number of servings given and list the new quantities.",
    (
        "Recipe (serves 4): 300 g pasta, 2 tbsp olive oil, 3 cloves garlic, 400 g chopped tomatoes\nServings: 6",
        "450 g pasta\n3 tbsp olive oil\n4-5 cloves garlic\n600 g chopped tomatoes",
    ),
)
input_first(
    "Give three synonyms for the word, from most to least common.",
    ("Word: happy", "glad, cheerful, jubilant"),
    ("Word: quickly", "fast, rapidly, swiftly"),
    ("Word: tired", "sleepy, exhausted, weary"),
)
input_first(
    "Write a note to a landlord asking to end a rental contract one month early.",
    (
        "",
        "Dear Mr Okafor,\n\nI am writing to ask whether I could end my tenancy at 14 Elm Road on 31 August instead of 30 September. I have been offered a job in another city that starts in early September.\n\nI will leave the flat clean and in good repair, and I am happy to show it to new tenants at any time that suits you.\n\nThank you for considering this request.\n\nKind regards,\nJoanna Lee",
    ),
)


# --- Table 8 shape: output-first, for classification tasks ---------------------------------------

output_first(
    "How does the diner feel about the restaurant? Answer Positive, Negative, or Mixed.",
    ("Mixed", "Review: The curry was the best I have had in years, but we waited fifty minutes for a table we had booked."),
    ("Positive", "Review: Friendly staff, generous portions and a lovely view of the harbour. We will be back."),
    ("Negative", "Review: Cold soup, a sticky table and a bill with two dishes we never ordered."),
)
output_first(
    "Does the email need a reply today? Answer Urgent or Can wait.",
    ("Urgent", "Email: The client moved the demo to 9 am tomorrow. Can you confirm tonight that the test server will be ready?"),
    ("Can wait", "Email: Here are the photos from the team lunch last Friday, in case anyone wants a copy."),
)
output_first(
    "Does the function have an off-by-one error? Answer Bug or No bug.",
    ("Bug", "Code:\ndef last_n(items, n):\n    return items[len(items) - n - 1:]"),
    ("No bug", "Code:\ndef first_n(items, n):\n    return items[:n]"),
)
output_first(
    "Answer the multiple-choice question with the letter of the correct option.",
    ("B", "Question: Which gas do plants take in from the air to make sugar?\nA. Oxygen\nB. Carbon dioxide\nC. Nitrogen\nD. Helium"),
    ("D", "Question: How many sides does a hexagon have?\nA. 4\nB. 5\nC. 8\nD. 6"),
    ("A", "Question: Which planet is closest to the Sun?\nA. Mercury\nB. Venus\nC. Earth\nD. Mars"),
)
output_first(
    "Does the evidence support the claim? Answer Supported, Refuted, or Not enough information.",
    ("Refuted", "Claim: The museum is open every day of the week.\nEvidence: The museum is closed on Mondays, except on public holidays."),
    ("Supported", "Claim: The train to the airport runs at night.\nEvidence: Airport trains leave every 30 minutes, around the clock."),
    ("Not enough information", "Claim: The new bakery sells gluten-free bread.\nEvidence: The bakery on Main Street opened last week and sells cakes and pastries."),
)
output_first(
    "Which language is the message written in?",
    ("Spanish", "Message: ¿A qué hora sale el último autobús hacia el centro?"),
    ("German", "Message: Kannst du mir bitte das Salz geben?"),
    ("Dutch", "Message: We gaan morgen met de fiets naar het strand."),
)
output_first(
    "Is the sentence grammatically correct? Answer Correct or Incorrect.",
    ("Incorrect", "Sentence: She don't like going to the dentist."),
    ("Correct", "Sentence: Neither of the answers was right."),
)
output_first(
    "What does the customer want in this chat: a refund, an exchange, or information?",
    ("Exchange", "Dialogue:\n- Customer: The jacket is too small. Do you have it in a large?\n- Agent: We do. Shall I send one and collect the small?"),
    ("Information", "Dialogue:\n- Customer: Do your stores open on public holidays?\n- Agent: Most of them open from 10 to 4."),
    ("Refund", "Dialogue:\n- Customer: The kettle stopped working after two days and I would like my money back.\n- Agent: I'm sorry to hear that. I can start a return for you."),
)
output_first(
    "Assign the headline to one section of the newspaper: Sports, Science, Business, or Culture.",
    ("Science", "Headline: Telescope spots water vapour around a planet 120 light years away"),
    ("Business", "Headline: Regional airline cuts fares as fuel prices fall for a third month"),
    ("Sports", "Headline: Underdogs win the cup final on penalties after a goalless draw"),
    ("Culture", "Headline: Forgotten opera by a 19th-century composer returns to the stage"),
)
output_first(
    "Is the number prime? Answer Prime or Not prime.",
    ("Not prime", "Number: 91"),
    ("Prime", "Number: 97"),
)
output_first(
    "Given the price of an item and a shopper's budget, say whether the item is affordable.",
    ("Within budget", "Item: wool scarf\nPrice: 24.50 EUR\nBudget: 30 EUR"),
    ("Over budget", "Item: running shoes\nPrice: 119 EUR\nBudget: 80 EUR"),
)
output_first(
    "Does the passage contain the answer to the question? Answer Yes or No.",
    ("Yes", "Passage: The lighthouse was built in 1874 and automated in 1991.\nQuestion: When was the lighthouse automated?"),
    ("No", "Passage: The lighthouse stands on a granite rock and can be visited in summer.\nQuestion: Who designed the lighthouse?"),
)
output_first(
    "Are the two words synonyms or antonyms?",
    ("Antonyms", "Word 1: generous\nWord 2: stingy"),
    ("Synonyms", "Word 1: brave\nWord 2: courageous"),
)
output_first(
    "Flip a fair coin and report the result.",
    ("Heads", ""),
    ("Tails", ""),
)
output_first(
    "How strong is the password? Answer Weak, Medium, or Strong.",
    ("Weak", "Password: summer2024"),
    ("Strong", "Password: v7#Qe!m2Lr@9xTp"),
    ("Medium", "Password: BlueHorse88"),
)
output_first(
    "Select the item from the list that does not belong with the others.",
    ("Carrot", "List: apple, banana, carrot, cherry"),
    ("Violin", "List: trumpet, violin, trombone, tuba"),
)
output_first(
    "Is the tone of the message formal or informal?",
    ("Informal", "Message: hey, running 10 min late, grab us a table?"),
    ("Formal", "Message: Please find attached the signed agreement for your records."),
)


def main() -> None:
    """Write the demonstrations as JSON Lines."""
    with OUT.open("w", encoding="utf-8") as fh:
        for line in LINES:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    counts = {kind: sum(1 for line in LINES if line["prompt"] == kind)
              for kind in ("classify", "input_first", "output_first")}
    print(f"wrote {len(LINES)} demonstrations to {OUT}: {counts}")


if __name__ == "__main__":
    main()
