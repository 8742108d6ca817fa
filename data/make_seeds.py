# ruff: noqa: E501
"""Build data/seed_tasks.jsonl, the project's own seed set, from the literals below.

Written for asyncgen in the Self-Instruct schema (id, name, instruction, instances, is_classification).
File order matters: the classification prompt uses the first 12 classification and the first 19
other tasks as demonstrations, so the opening block is the most carefully chosen.

Run from the repository root:  python data/make_seeds.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "seed_tasks.jsonl"

TASKS: list[dict[str, Any]] = []


def task(name: str, instruction: str, *instances: tuple[str, str], cls: bool = False) -> None:
    """Append one seed task; instances are (input, output) pairs."""
    TASKS.append(
        {
            "name": name,
            "instruction": instruction,
            "instances": [{"input": i, "output": o} for i, o in instances],
            "is_classification": cls,
        }
    )


# --- opening block: the few-shot demonstrations -------------------------------------------------

task(
    "gluten_free_bakery_names",
    "Suggest three names for a bakery that sells only gluten-free bread.",
    ("", "1. Rise Free Bakehouse\n2. The Honest Crumb\n3. Wheatless Wonders"),
)
task(
    "product_review_sentiment",
    "How does this shopper feel about the product? Answer Positive, Negative, or Mixed.",
    (
        "The blender is powerful and easy to clean, but it is so loud that my dog leaves the room.",
        "Mixed",
    ),
    ("Arrived two weeks late and the lid was cracked. Never ordering again.", "Negative"),
    ("Best headphones I've owned at this price. The battery lasts all week.", "Positive"),
    cls=True,
)
task(
    "meeting_action_items",
    "Pull out every action item from these meeting notes and say who is responsible for each one.",
    (
        "Priya will send the revised budget to finance by Friday. We agreed the launch moves to March. Tom needs to book the venue for the offsite, and Lena offered to draft the customer survey. Next sync is Tuesday.",
        "- Priya: send the revised budget to finance by Friday.\n- Tom: book the venue for the offsite.\n- Lena: draft the customer survey.",
    ),
)
task(
    "sms_spam_detection",
    "Is this text message spam? Answer Spam or Not spam.",
    (
        "Congratulations! You have been selected for a $500 gift card. Click bit.ly/claim-now within 24 hours to claim it.",
        "Spam",
    ),
    ("Running 10 min late, save me a seat near the front.", "Not spam"),
    cls=True,
)
task(
    "compound_interest_for_kids",
    "Explain compound interest to a twelve-year-old in no more than four sentences.",
    (
        "",
        "Compound interest is when the money you save earns extra money, and then that extra money starts earning money too. Imagine you put $100 in a bank that pays 10% a year. After one year you have $110, and the next year you earn 10% on $110 instead of just $100. Over many years your savings grow faster and faster, like a snowball rolling downhill.",
    ),
)
task(
    "fix_python_loop_bug",
    "Find the bug in this Python function and give a corrected version.",
    (
        'def count_vowels(word):\n    count = 0\n    for ch in word:\n        if ch in "aeiou":\n            count += 1\n        return count',
        'The return statement is indented inside the loop, so the function stops after checking only the first character. Move it out of the loop:\n\ndef count_vowels(word):\n    count = 0\n    for ch in word:\n        if ch in "aeiou":\n            count += 1\n    return count',
    ),
)
task(
    "grammaticality_judgment",
    "Read the sentence and judge its grammar: is it Grammatical or Ungrammatical?",
    ("She don't like waking up early on weekends.", "Ungrammatical"),
    ("Neither of the twins has been to Spain.", "Grammatical"),
    cls=True,
)
task(
    "autumn_hiking_packing_list",
    "Make a packing list for an overnight hiking trip in the mountains in early autumn.",
    (
        "",
        "- Backpack with a rain cover\n- Tent, sleeping pad, and a sleeping bag rated to around freezing\n- Warm layers: fleece, insulated jacket, hat, and gloves\n- Waterproof jacket and trousers\n- Headlamp with spare batteries\n- Stove, fuel, lighter, small pot, and spoon\n- Meals for two days plus snacks\n- Water bottles and a filter\n- Navigation: paper trail guide and compass, or a charged phone with offline routes\n- First-aid kit, sunscreen, and blister tape",
    ),
)
task(
    "fact_or_opinion",
    "Label the statement as a fact or an opinion.",
    ("Mount Everest is the tallest mountain above sea level.", "Fact"),
    ("Hiking is the most relaxing way to spend a Sunday.", "Opinion"),
    ("Water boils at a lower temperature at high altitude.", "Fact"),
    cls=True,
)
task(
    "polite_message_to_manager",
    "Rewrite this message so it sounds polite and professional enough to send to a manager.",
    (
        "hey, cant make it to the 3pm thing today, something came up. can we push it?",
        "Hi [Manager's name],\n\nUnfortunately, something has come up and I won't be able to attend our 3 p.m. meeting today. Would it be possible to reschedule for later this week? I'm happy to work around your calendar.\n\nThank you for understanding,\n[Your name]",
    ),
)
task(
    "scale_cookie_recipe",
    "A recipe needs 3/4 cup of sugar for 12 cookies. How much sugar is needed for 30 cookies? Show your reasoning.",
    (
        "",
        "Each cookie needs 3/4 / 12 = 1/16 cup of sugar. For 30 cookies: 30 x 1/16 = 30/16 = 1 7/8 cups. You need 1 7/8 cups of sugar.",
    ),
)
task(
    "animal_class",
    "Which group does this animal belong to: mammal, bird, reptile, amphibian, or fish?",
    ("Salamander", "Amphibian"),
    ("Dolphin", "Mammal"),
    ("Penguin", "Bird"),
    cls=True,
)
task(
    "sql_from_question",
    "Using the table schema below, write an SQL query that answers the question.",
    (
        "Table: orders(id, customer_id, total, created_at)\nQuestion: What was the total revenue in March 2024?",
        "SELECT SUM(total) AS revenue\nFROM orders\nWHERE created_at >= '2024-03-01' AND created_at < '2024-04-01';",
    ),
)
task(
    "support_email_routing",
    "Sort this customer email into one of these categories: Billing, Technical issue, Shipping, or Other.",
    (
        "I was charged twice for my subscription this month. Can you refund the duplicate payment?",
        "Billing",
    ),
    ("The app crashes every time I try to scan a receipt with my phone.", "Technical issue"),
    ("My package has shown 'in transit' for nine days now.", "Shipping"),
    cls=True,
)
task(
    "monday_coffee_haiku",
    "Compose a haiku about the first cup of coffee on a Monday morning.",
    ("", "Dark cup, rising steam\nthe week still asleep in me\none sip wakes the world"),
)
task(
    "one_sentence_summary",
    "Summarize the following passage in one sentence.",
    (
        "Cities are often several degrees warmer than the countryside around them, an effect known as the urban heat island. Asphalt, concrete, and dark roofs absorb sunlight during the day and release the heat at night, while the lack of trees and soil means less cooling from evaporation. Waste heat from cars, air conditioners, and factories adds to the problem. Planting trees, installing reflective roofs, and adding parks can lower temperatures noticeably.",
        "Cities run hotter than their surroundings because paved, dark surfaces store heat and there is little vegetation, but trees, reflective roofs, and parks can cool them down.",
    ),
)
task(
    "science_claim_true_false",
    "Decide if this science claim is true or false.",
    ("Sound travels faster in water than in air.", "True"),
    ("The Great Wall of China is visible from the Moon with the naked eye.", "False"),
    ("Lightning never strikes the same place twice.", "False"),
    cls=True,
)
task(
    "extract_iso_dates",
    "List all dates mentioned in the text in YYYY-MM-DD format.",
    (
        "The contract was signed on March 3, 2021, and takes effect on the first of April that year. It expires on 31 December 2025 unless renewed.",
        "2021-03-03\n2021-04-01\n2025-12-31",
    ),
)
task(
    "remote_team_building",
    "Brainstorm five low-cost team-building activities for a remote team of ten people.",
    (
        "",
        "1. A weekly 15-minute show-and-tell where one person shares a hobby.\n2. An online trivia quiz with teams mixed across departments.\n3. A virtual coffee roulette that pairs random colleagues for a chat.\n4. A shared playlist everyone adds one song to each week.\n5. A photo challenge with a daily theme posted in a team channel.",
    ),
)
task(
    "tone_formal_informal",
    "Is the tone of this sentence formal or informal?",
    ("Kindly find attached the quarterly report for your review.", "Formal"),
    ("lol that meeting could've been an email", "Informal"),
    cls=True,
)
task(
    "complete_analogy",
    "Complete the analogy with one word.",
    ("Glove is to hand as sock is to ___", "Foot"),
    ("Author is to novel as composer is to ___", "Symphony"),
)
task(
    "roman_empire_split",
    "Why did the Roman Empire end up divided into eastern and western halves? Answer briefly.",
    (
        "",
        "By the late third century the empire was too large and too threatened on several frontiers to be ruled from one place, so Emperor Diocletian split its administration between East and West, each with its own emperor. The division became permanent when Theodosius I died in 395 and his sons Arcadius and Honorius inherited the East and the West. The wealthier East lasted as the Byzantine Empire until 1453, while the West fell in 476.",
    ),
)
task(
    "simile_detection",
    "Does the following sentence contain a simile? Answer Yes or No.",
    ("Her voice was as smooth as honey.", "Yes"),
    ("The wind howled all night.", "No"),
    cls=True,
)
task(
    "csv_to_json",
    "Convert this CSV text into a JSON array of objects.",
    (
        "name,age,city\nAna,34,Lisbon\nKenji,28,Osaka",
        '[\n  {"name": "Ana", "age": 34, "city": "Lisbon"},\n  {"name": "Kenji", "age": 28, "city": "Osaka"}\n]',
    ),
)
task(
    "kids_riddle",
    "Make up a riddle for kids and give its answer.",
    (
        "",
        "Riddle: I follow you all day but disappear at night. The brighter the sun, the darker I get. What am I?\nAnswer: Your shadow.",
    ),
)
task(
    "name_the_fallacy",
    "Name the logical fallacy in the argument: ad hominem, straw man, slippery slope, or false dilemma.",
    (
        "If we let students retake one exam, soon they'll expect to retake every exam and grades will mean nothing.",
        "Slippery slope",
    ),
    (
        "You can't trust Maria's view on climate policy; she failed chemistry in high school.",
        "Ad hominem",
    ),
    (
        "Either you support this new highway or you don't care about the town's economy.",
        "False dilemma",
    ),
    cls=True,
)
task(
    "explain_javascript_snippet",
    "Explain in plain English what this JavaScript code does.",
    (
        "const evens = nums.filter(n => n % 2 === 0).map(n => n * n);",
        "It goes through the array nums, keeps only the even numbers, and squares each of them. The new array of squared even numbers is stored in evens; nums itself is not changed.",
    ),
)
task(
    "kyoto_garden_itinerary",
    "Plan a relaxed two-day itinerary in Kyoto for someone who loves gardens and tea.",
    (
        "",
        "Day 1: Start early at the moss garden of Saiho-ji (book ahead) or the quieter Gio-ji, then have lunch in Arashiyama and walk through the bamboo grove to Tenryu-ji's garden. In the late afternoon, join a tea ceremony in the Gion district.\n\nDay 2: Visit the rock garden at Ryoan-ji and the golden pavilion at Kinkaku-ji in the morning. Take the train to Uji after lunch to taste matcha at a traditional teahouse and see Byodo-in. Return to Kyoto for dinner along the Kamo River.",
    ),
)
task(
    "it_ticket_urgency",
    "Rate how urgent this IT support ticket is: High, Medium, or Low.",
    ("The whole sales team cannot log in to the CRM and we have a client demo in an hour.", "High"),
    ("Could someone change the default font in our shared email signature sometime?", "Low"),
    ("My second monitor flickers now and then, but I can still work.", "Medium"),
    cls=True,
)
task(
    "resume_bullet",
    "Turn this job duty into a strong resume bullet point that starts with an action verb and includes a measurable result.",
    (
        "I ran the company newsletter. Open rates went from 20% to 35% after I changed the format.",
        "Redesigned and managed the company newsletter, raising open rates from 20% to 35%.",
    ),
)
task(
    "paraphrase_same_meaning",
    "Do these two sentences mean the same thing? Answer Same or Different.",
    (
        "Sentence 1: The meeting was postponed until Friday.\nSentence 2: The meeting was moved to Friday.",
        "Same",
    ),
    ("Sentence 1: Sam lent Jo ten dollars.\nSentence 2: Jo lent Sam ten dollars.", "Different"),
    cls=True,
)
task(
    "facial_recognition_schools",
    "Give one argument for and one against using facial recognition cameras in public schools.",
    (
        "",
        "For: It could quickly flag people who are banned from campus, such as someone under a restraining order, and help staff respond faster in an emergency.\nAgainst: It collects sensitive biometric data about children who cannot meaningfully consent, and errors or misuse could lead to students being wrongly singled out.",
    ),
)

# --- cooking -----------------------------------------------------------------------------------

task(
    "buttermilk_substitute",
    "What can I use instead of buttermilk in pancakes if I only have regular milk?",
    (
        "",
        "Stir 1 tablespoon of lemon juice or white vinegar into 1 cup of regular milk and let it sit for 5 to 10 minutes until it thickens slightly. Use it as a one-to-one replacement for buttermilk. Plain yogurt thinned with a little milk also works.",
    ),
)
task(
    "halve_ingredients",
    "Halve the quantities in this ingredient list.",
    (
        "2 cups flour\n3 eggs\n1 cup milk\n4 tablespoons butter\n1 teaspoon salt",
        "1 cup flour\n1 1/2 eggs (or 1 large egg plus 1 yolk)\n1/2 cup milk\n2 tablespoons butter\n1/2 teaspoon salt",
    ),
)
task(
    "dinner_from_pantry",
    "Suggest a dinner I could cook using only these ingredients plus salt, pepper, and oil.",
    (
        "chickpeas, spinach, canned tomatoes, garlic, rice",
        "Chickpea and spinach stew over rice. Start the rice. Meanwhile, fry sliced garlic in oil, add the canned tomatoes, and simmer for 10 minutes. Stir in the drained chickpeas, then add the spinach at the end and let it wilt. Season with salt and pepper and serve over the rice.",
    ),
)
task(
    "room_temperature_food_safety",
    "Is it safe to leave this food at room temperature overnight? Answer Safe or Unsafe.",
    ("Cooked rice", "Unsafe"),
    ("An unopened jar of peanut butter", "Safe"),
    ("Whole raw potatoes", "Safe"),
    cls=True,
)
task(
    "steak_resting",
    "Why should you let a steak rest after cooking it?",
    (
        "",
        "While the steak cooks, its juices are pushed toward the center. Resting it for 5 to 10 minutes lets the temperature even out and the muscle fibers relax, so the juices spread back through the meat. If you cut it right away, more of that juice runs out onto the board and the steak is drier.",
    ),
)
# --- travel ------------------------------------------------------------------------------------

task(
    "jet_lag_tips",
    "Give four practical tips for reducing jet lag on a flight from New York to Paris.",
    (
        "",
        "1. Start going to bed an hour earlier for a few nights before you leave.\n2. Sleep on the overnight flight, using an eye mask and earplugs, and skip alcohol.\n3. Get outside in the morning daylight after you land.\n4. Stay awake until a normal local bedtime on the first day, taking at most a 20-minute nap.",
    ),
)
task(
    "tidy_travel_notes",
    "Turn these scribbled travel notes into a tidy day-by-day schedule.",
    (
        "arrive lisbon thurs eve, fri: belem tower + pasteis, sat day trip sintra, sun morning flea market then fly 4pm",
        "Thursday: Arrive in Lisbon in the evening.\nFriday: Visit Belem Tower and try pasteis de nata.\nSaturday: Day trip to Sintra.\nSunday: Morning at the flea market; flight at 4 p.m.",
    ),
)
task(
    "carry_on_allowed",
    "Can this item be packed in carry-on luggage on a US domestic flight? Answer Yes or No.",
    ("A sealed 500 ml bottle of water", "No"),
    ("A laptop", "Yes"),
    ("A knitting needle set", "Yes"),
    cls=True,
)
task(
    "budget_city_break",
    "Recommend three ways to save money on a city break in an expensive European capital.",
    (
        "",
        "1. Buy a multi-day public transport pass instead of taking taxis.\n2. Eat your main meal at lunchtime, when many restaurants offer cheaper set menus.\n3. Check which museums have free entry days or evenings and plan around them.",
    ),
)
# --- finance -----------------------------------------------------------------------------------

task(
    "rule_50_30_20",
    "What is the 50/30/20 budgeting rule? Give an example for someone earning $3,000 a month after tax.",
    (
        "",
        "The rule splits after-tax income into 50% for needs, 30% for wants, and 20% for savings or paying off debt. On $3,000 a month that is $1,500 for needs such as rent, groceries, and utilities; $900 for wants such as eating out and hobbies; and $600 for savings or debt repayment.",
    ),
)
task(
    "restaurant_bill_split",
    "Work out how much each person owes, including an 18% tip.",
    (
        "Bill: $84.00, 4 people, split evenly",
        "Tip: $84.00 x 0.18 = $15.12. Total: $99.12. Each person owes $99.12 / 4 = $24.78.",
    ),
    (
        "Bill: $50.00, 2 people, split evenly",
        "Tip: $50.00 x 0.18 = $9.00. Total: $59.00. Each person owes $29.50.",
    ),
)
task(
    "bank_transaction_category",
    "Assign the bank transaction to a budget category: Groceries, Transport, Dining, Utilities, or Entertainment.",
    ("SHELL OIL 5732 - $48.10", "Transport"),
    ("NETFLIX.COM - $15.49", "Entertainment"),
    ("CITY WATER DEPT - $62.00", "Utilities"),
    cls=True,
)
task(
    "stock_vs_bond",
    "In simple terms, how does owning a stock differ from owning a bond?",
    (
        "",
        "A stock is a small piece of ownership in a company: if the company does well, the value of your share can rise and you may receive dividends, but you can also lose money. A bond is a loan you give to a company or government: they promise to pay you interest and return the money on a set date. Bonds are usually steadier but tend to grow less than stocks over the long run.",
    ),
)
task(
    "simple_interest",
    "Compute the simple interest owed on the loan described, and the total to repay.",
    (
        "Principal $2,000, annual rate 5%, 3 years",
        "Interest = 2,000 x 0.05 x 3 = $300. Total to repay = $2,300.",
    ),
    (
        "Principal $500, annual rate 8%, 6 months",
        "Interest = 500 x 0.08 x 0.5 = $20. Total to repay = $520.",
    ),
)
task(
    "emergency_fund_size",
    "How big should an emergency fund be, and where is a sensible place to keep it?",
    (
        "",
        "A common guideline is three to six months of essential expenses, more if your income is irregular or you support others. Keep it somewhere safe and easy to reach, such as a high-yield savings account, rather than in stocks that could drop right when you need the money.",
    ),
)

# --- health ------------------------------------------------------------------------------------

task(
    "sleep_habits",
    "List five habits that help people fall asleep more easily.",
    (
        "",
        "1. Go to bed and wake up at the same time every day, including weekends.\n2. Avoid caffeine after early afternoon.\n3. Keep the bedroom cool, dark, and quiet.\n4. Put screens away 30 to 60 minutes before bed.\n5. Get some daylight and exercise during the day.",
    ),
)
task(
    "medical_term_plain",
    "Explain this medical term in everyday language.",
    (
        "Hypertension",
        "High blood pressure: the blood pushes too hard against the walls of the arteries for long periods, which over time can damage the heart, kidneys, and blood vessels.",
    ),
    (
        "Tachycardia",
        "A heart rate that is faster than normal, usually over 100 beats per minute while resting.",
    ),
)
task(
    "daily_water_intake",
    "How much water should an average adult drink each day, and does coffee count?",
    (
        "",
        "The US National Academies suggest about 2.7 liters of total water a day for women and 3.7 liters for men, including water from food, which usually provides around a fifth. Coffee and tea do count: for regular drinkers, their mild diuretic effect does not cancel out the fluid they provide. You need more in hot weather, during exercise, and when ill.",
    ),
)
task(
    "desk_stretches",
    "Suggest a five-minute stretching routine I can do at my desk.",
    (
        "",
        "1. Neck tilts: ear toward each shoulder, 20 seconds per side.\n2. Shoulder rolls: 10 backward, 10 forward.\n3. Seated twist: hold the chair back and turn, 20 seconds per side.\n4. Wrist stretch: arm out, gently pull fingers back, 20 seconds per hand.\n5. Hip flexor stretch: stand, step one foot back, and tuck your hips, 30 seconds per side.\n6. Finish by standing tall and taking five slow, deep breaths.",
    ),
)

# --- law ---------------------------------------------------------------------------------------

task(
    "misdemeanor_vs_felony",
    "What is the difference between a misdemeanor and a felony in the United States?",
    (
        "",
        "A misdemeanor is a less serious crime, such as petty theft or a first minor drug offense, usually punishable by a fine or up to one year in a local jail. A felony is a more serious crime, such as burglary or assault with a weapon, punishable by more than a year in state or federal prison. A felony conviction can also cost someone rights, such as owning a firearm.",
    ),
)
task(
    "contract_clause_plain_english",
    "Rewrite this contract clause in plain English.",
    (
        "The Lessee shall not sublet the Premises or any portion thereof without the prior written consent of the Lessor, which consent shall not be unreasonably withheld.",
        "The tenant can't rent out all or part of the property to someone else without the landlord's written permission, but the landlord can't refuse without a good reason.",
    ),
)
task(
    "civil_or_criminal",
    "Would this situation normally be handled as a civil or a criminal matter?",
    (
        "A neighbor's tree falls and damages your fence, and they refuse to pay for the repairs.",
        "Civil",
    ),
    ("Someone breaks into a parked car and steals a laptop.", "Criminal"),
    cls=True,
)
task(
    "small_claims_steps",
    "Outline the usual steps for taking a dispute to small claims court.",
    (
        "",
        "1. Ask the other party in writing to pay or fix the problem, and keep a copy.\n2. Check that your claim is under your court's limit and within the time allowed.\n3. Fill in the claim form at the local court and pay the filing fee.\n4. Have the papers formally served on the other party.\n5. Gather evidence: receipts, photos, messages, and witnesses.\n6. Attend the hearing and present your case clearly and briefly.",
    ),
)

# --- science -----------------------------------------------------------------------------------

task(
    "sky_color",
    "Why is the sky blue during the day but red at sunset?",
    (
        "",
        "Sunlight contains all colors, and air molecules scatter short blue wavelengths much more than long red ones, so blue light reaches our eyes from every direction of the sky. At sunset the light travels through far more atmosphere to reach us, so most of the blue is scattered away before it arrives, leaving the reds and oranges.",
    ),
)
task(
    "experiment_variables",
    "Identify the independent and dependent variables in this experiment.",
    (
        "A student waters five identical bean plants with different amounts of water each day and measures their height after three weeks.",
        "Independent variable: the amount of water given each day.\nDependent variable: the height of the plants after three weeks.",
    ),
)
task(
    "physical_or_chemical_change",
    "Classify the change as physical or chemical.",
    ("Ice melting", "Physical"),
    ("Iron rusting", "Chemical"),
    ("Baking a cake", "Chemical"),
    cls=True,
)
task(
    "planet_dwarf_moon",
    "Is the object a planet, a dwarf planet, or a moon?",
    ("Pluto", "Dwarf planet"),
    ("Titan", "Moon"),
    ("Neptune", "Planet"),
    cls=True,
)
task(
    "photosynthesis_two_sentences",
    "Describe photosynthesis in two sentences for a middle-school student.",
    (
        "",
        "Photosynthesis is how plants make their own food: they use energy from sunlight to turn water and carbon dioxide from the air into sugar. As a bonus, the process releases oxygen, which is the oxygen we breathe.",
    ),
)
task(
    "cold_desert_nights",
    "Deserts can be very hot by day and freezing at night. What causes such a big swing?",
    (
        "",
        "Desert air is very dry and skies are usually clear. Water vapor and clouds act like a blanket that holds heat in, so without them the heat absorbed by the sand during the day radiates straight back into space after sunset. Sand also stores little heat, so the ground cools quickly.",
    ),
)
# --- math --------------------------------------------------------------------------------------

task(
    "trains_meeting_time",
    "Two trains leave stations 300 km apart at the same time and travel toward each other at 70 km/h and 80 km/h. When do they meet?",
    (
        "",
        "Together they close the gap at 70 + 80 = 150 km/h. Covering 300 km takes 300 / 150 = 2 hours, so they meet two hours after leaving.",
    ),
)
task(
    "solve_linear_equation",
    "Solve for x and show each step.",
    ("3x + 7 = 25", "3x + 7 = 25\n3x = 25 - 7 = 18\nx = 18 / 3 = 6"),
    ("2(x - 4) = 10", "2(x - 4) = 10\nx - 4 = 10 / 2 = 5\nx = 5 + 4 = 9"),
)
task(
    "percent_change",
    "Calculate the percentage change from the first value to the second.",
    ("Old price: $80. New price: $92.", "(92 - 80) / 80 x 100 = 15%. The price rose by 15%."),
    (
        "Visitors last month: 250. Visitors this month: 200.",
        "(200 - 250) / 250 x 100 = -20%. Visitors fell by 20%.",
    ),
)
task(
    "prime_or_composite",
    "Tell whether the number is prime or composite.",
    ("91", "Composite"),
    ("97", "Prime"),
    ("51", "Composite"),
    cls=True,
)
task(
    "two_dice_sum_seven",
    "What is the probability of rolling a total of 7 with two fair six-sided dice? Explain.",
    (
        "",
        "There are 6 x 6 = 36 equally likely outcomes. Six of them add up to 7: (1,6), (2,5), (3,4), (4,3), (5,2), and (6,1). The probability is 6/36 = 1/6, about 16.7%.",
    ),
)
task(
    "multiply_by_eleven",
    "Show a quick way to multiply any two-digit number by 11 in your head.",
    (
        "",
        "Add the two digits and put the sum between them. For 36 x 11: 3 + 6 = 9, so the answer is 396. If the sum is 10 or more, carry the 1: for 78 x 11, 7 + 8 = 15, so put 5 in the middle and add 1 to the 7, giving 858.",
    ),
)
task(
    "paint_area_word_problem",
    "A room is 4 m long, 3 m wide, and 2.5 m high. Ignoring the door and window, how much wall area needs paint, and how many 1-liter cans if one liter covers 10 square meters?",
    (
        "",
        "The four walls have area 2 x (4 + 3) x 2.5 = 35 square meters. At 10 square meters per liter you need 3.5 liters, so buy 4 one-liter cans.",
    ),
)
# --- programming -------------------------------------------------------------------------------

task(
    "sql_query_meaning",
    "What does this SQL query return?",
    (
        "SELECT department, COUNT(*) FROM employees WHERE salary > 50000 GROUP BY department HAVING COUNT(*) > 3;",
        "For each department, the number of employees earning more than 50,000, listing only the departments that have more than three such employees.",
    ),
)
task(
    "regex_meaning",
    "Describe which strings this regular expression matches.",
    (
        "^\\d{3}-\\d{4}$",
        "Strings made of exactly three digits, a hyphen, and four digits, such as 555-1234, with nothing before or after.",
    ),
    (
        "^[A-Z][a-z]+$",
        "A single word that starts with one capital letter followed by one or more lowercase letters, such as Paris.",
    ),
)
task(
    "time_complexity",
    "What is the time complexity of this function? Explain briefly.",
    (
        "def has_duplicate(items):\n    for i in range(len(items)):\n        for j in range(i + 1, len(items)):\n            if items[i] == items[j]:\n                return True\n    return False",
        "O(n^2). In the worst case, when there is no duplicate, the nested loops compare every pair of items, which is n(n-1)/2 comparisons.",
    ),
)
task(
    "programming_language_id",
    "Which programming language is this snippet written in: Python, JavaScript, Java, Ruby, or Go?",
    ('fmt.Println("hello")', "Go"),
    ("puts 'hello'", "Ruby"),
    ('System.out.println("hello");', "Java"),
    cls=True,
)
task(
    "python_docstring",
    "Add a concise docstring to this Python function.",
    (
        "def clamp(value, low, high):\n    return max(low, min(value, high))",
        'def clamp(value, low, high):\n    """Return value limited to the range [low, high]."""\n    return max(low, min(value, high))',
    ),
)
task(
    "git_command_for_action",
    "Which git command does the described action? Reply with the command only.",
    ("Undo the last commit but keep its changes staged", "git reset --soft HEAD~1"),
    ("Create a new branch called feature-login and switch to it", "git switch -c feature-login"),
)
task(
    "recursion_everyday_example",
    "Explain recursion using an everyday example instead of code.",
    (
        "",
        "Imagine you are standing in a long queue and want to know your position. You ask the person in front of you what their position is. They ask the person in front of them, and so on, until the first person says 'I'm number 1.' Each answer is passed back with one added, until it reaches you. Solving a problem by handing a smaller version of the same problem to someone else, with a case that stops it, is recursion.",
    ),
)
task(
    "sql_having_fix",
    "This SQL query fails. Explain why and fix it.",
    (
        "SELECT customer_id, SUM(amount) FROM payments WHERE SUM(amount) > 100 GROUP BY customer_id;",
        "Aggregate functions such as SUM cannot be used in WHERE, which filters rows before grouping. Filter the groups with HAVING instead:\n\nSELECT customer_id, SUM(amount)\nFROM payments\nGROUP BY customer_id\nHAVING SUM(amount) > 100;",
    ),
)
task(
    "python_raises_error",
    "Will this Python expression raise an error? Answer Error or No error.",
    ("int('42')", "No error"),
    ("'3' + 4", "Error"),
    ("[1, 2, 3][3]", "Error"),
    cls=True,
)
task(
    "repair_invalid_json",
    "The JSON below is invalid. Return a corrected version.",
    (
        "{'name': 'Lee', 'tags': ['a', 'b',], active: true}",
        '{"name": "Lee", "tags": ["a", "b"], "active": true}',
    ),
)
task(
    "code_review_comment",
    "Leave a constructive code review comment on this change.",
    (
        "password = request.args.get('password')\nlog.info(f'login attempt for {user} with {password}')",
        "Please don't log the password, even at info level: logs are widely readable and kept for a long time, so this would leak user credentials. Log only the username and the outcome of the attempt.",
    ),
)

# --- grammar and editing -----------------------------------------------------------------------

task(
    "fix_spelling_grammar",
    "Correct the grammar and spelling mistakes in this paragraph.",
    (
        "Their going to the libary tomorow, but they forgot there cards at home so they cant borrow nothing.",
        "They're going to the library tomorrow, but they forgot their cards at home, so they can't borrow anything.",
    ),
)
task(
    "passive_to_active",
    "Change this sentence from passive to active voice.",
    ("The cake was eaten by the children.", "The children ate the cake."),
    ("Mistakes were made by the committee.", "The committee made mistakes."),
)
task(
    "make_sentence_concise",
    "Make this sentence shorter without losing its meaning.",
    (
        "At this point in time, we are not in a position to be able to offer you a refund.",
        "We can't offer you a refund right now.",
    ),
)
task(
    "part_of_speech",
    "Identify the part of speech of the word in capital letters: noun, verb, adjective, or adverb.",
    ("She RUNS every morning.", "Verb"),
    ("The QUIET library was almost empty.", "Adjective"),
    ("He answered QUICKLY.", "Adverb"),
    cls=True,
)
task(
    "affect_vs_effect",
    "When should you use 'affect' and when 'effect'? Include an example of each.",
    (
        "",
        "'Affect' is usually a verb meaning to influence: 'The rain affected our plans.' 'Effect' is usually a noun meaning a result: 'The rain had a big effect on our plans.' A handy memory aid: Affect is the Action, Effect is the End result.",
    ),
)

# --- writing -----------------------------------------------------------------------------------

task(
    "bike_shop_slogan",
    "Come up with a catchy slogan for a neighborhood bicycle repair shop.",
    ("", "Flat tire today, back on the road tomorrow."),
)
task(
    "limerick_scared_cat",
    "Write a limerick about a cat who is afraid of mice.",
    (
        "",
        "There once was a cat named Lou\nWho feared every mouse that he knew.\nWhen one squeaked hello,\nHe'd leap up and go\nAnd hide in a boot till past two.",
    ),
)
task(
    "neighbor_thank_you",
    "Draft a short thank-you note to the person described.",
    (
        "My neighbor Mrs. Alvarez watered my plants for two weeks while I was traveling.",
        "Dear Mrs. Alvarez,\n\nThank you so much for looking after my plants while I was away. They look happier than when I left! It was a real relief to know they were in good hands. Please let me know if I can ever return the favor.\n\nWarmly,\n[Your name]",
    ),
)
task(
    "water_bottle_description",
    "Write a 50-word product description for a stainless steel water bottle that keeps drinks cold for 24 hours.",
    (
        "",
        "Meet the bottle that keeps up with you. Double-wall vacuum insulation keeps water ice-cold for a full 24 hours, from morning commute to late-night study session. The leak-proof lid, sweat-free finish, and durable stainless steel body mean it survives backpacks and trails alike. Refill, reuse, and skip the plastic.",
    ),
)
task(
    "decline_dinner_invitation",
    "Write back to this invitation and turn it down politely.",
    (
        "Hi Sam, we're hosting a small dinner on Saturday the 14th to celebrate Mia's promotion. Would you like to join us? -- Chris",
        "Hi Chris,\n\nThank you so much for the invitation, and congratulations to Mia! Unfortunately I'm away that weekend, so I won't be able to make it. I hope you all have a wonderful evening, and I'd love to celebrate with her another time.\n\nBest,\nSam",
    ),
)
task(
    "lighthouse_mystery_opening",
    "Give me the opening two sentences of a mystery story set in a lighthouse.",
    (
        "",
        "The lamp at Gull Point had not missed a single night in ninety years, which is why the fishermen knew something was wrong when the tower stayed dark. By the time the keeper's daughter rowed out at dawn, the door was bolted from the inside and the logbook ended mid-sentence.",
    ),
)
task(
    "announcement_to_tweet",
    "Turn this announcement into a tweet under 280 characters.",
    (
        "The Riverside Public Library will extend its opening hours starting June 1. The library will now be open until 9 p.m. on weekdays and will open on Sundays from noon to 5 p.m.",
        "Good news, readers! From June 1, Riverside Public Library stays open until 9 p.m. on weekdays and opens Sundays from noon to 5 p.m. See you there! #RiversideReads",
    ),
)
task(
    "wedding_toast",
    "What could a best friend say in a two-sentence wedding toast?",
    (
        "",
        "I've known Jamie since we were eight, and I've never seen them as happy as they've been since the day they met Alex. Please raise your glasses to a marriage full of laughter, patience, and many more adventures together.",
    ),
)
task(
    "news_headline",
    "Write a headline for this news paragraph.",
    (
        "Volunteers in the town of Millbrook planted 2,000 trees along the river on Saturday, completing a three-year project to restore the riverbank after the 2021 floods washed much of it away.",
        "Millbrook Volunteers Plant 2,000 Trees to Finish Riverbank Restoration",
    ),
)
task(
    "acrostic_rain",
    "Compose an acrostic poem using the word RAIN.",
    (
        "",
        "Rooftops drumming softly,\nAll the gutters sing,\nIn the puddles, clouds float,\nNight smells green as spring.",
    ),
)
task(
    "author_purpose",
    "Is the main purpose of this passage to persuade, to inform, or to entertain?",
    (
        "Every bottle you recycle saves energy. Start sorting your trash today and convince your neighbors to do the same!",
        "To persuade",
    ),
    (
        "The koala sleeps up to 20 hours a day and feeds almost entirely on eucalyptus leaves.",
        "To inform",
    ),
    (
        "Gerald the goose had one dream: to win the county pie-eating contest, despite having no hands.",
        "To entertain",
    ),
    cls=True,
)
task(
    "out_of_office_reply",
    "Create an out-of-office auto-reply for someone on vacation from July 8 to July 19.",
    (
        "",
        "Thank you for your email. I am out of the office from July 8 to July 19 with limited access to email. I will reply when I return on July 22. For urgent matters, please contact my colleague at [colleague's email].",
    ),
)
# --- education ---------------------------------------------------------------------------------

task(
    "water_cycle_quiz",
    "Create three multiple-choice questions about the water cycle for fourth graders, with the answers marked.",
    (
        "",
        "1. What is it called when water turns into vapor? a) Condensation b) Evaporation* c) Precipitation\n2. Rain, snow, and hail are all kinds of... a) Precipitation* b) Evaporation c) Collection\n3. What forms when water vapor cools high in the sky? a) Rivers b) Clouds* c) Groundwater\n(* marks the correct answer)",
    ),
)
task(
    "explain_to_seven_year_old",
    "Explain this concept as if you were talking to a seven-year-old.",
    (
        "Gravity",
        "Gravity is an invisible pull that makes things fall down instead of floating away. The Earth is so big that it pulls everything toward it, which is why your ball comes back down when you throw it up.",
    ),
    (
        "Vaccines",
        "A vaccine is like a practice lesson for your body. It shows your body's defenders what a germ looks like, so if the real germ ever shows up, they recognize it and fight it off fast.",
    ),
)
task(
    "lesson_objectives",
    "List two learning objectives for a lesson on the topic below.",
    (
        "Adding fractions with unlike denominators",
        "By the end of the lesson, students will be able to:\n1. Find a common denominator for two fractions.\n2. Add two fractions with unlike denominators and simplify the result.",
    ),
)
task(
    "blooms_taxonomy_level",
    "Which level of Bloom's taxonomy does this question target: Remember, Understand, Apply, Analyze, Evaluate, or Create?",
    ("List the three states of matter.", "Remember"),
    ("Design an experiment to test whether salt changes the boiling point of water.", "Create"),
    ("Explain why ice floats on water.", "Understand"),
    cls=True,
)
task(
    "spaced_repetition",
    "What is spaced repetition, and why does it help students remember material?",
    (
        "",
        "Spaced repetition means reviewing material at growing intervals, for example one day, three days, a week, and then a month after first learning it. Each review happens just as you are starting to forget, and having to pull the memory back up strengthens it much more than rereading everything in one long session.",
    ),
)
task(
    "feedback_on_essay_intro",
    "Give encouraging but specific feedback on this student's essay introduction.",
    (
        "Social media is a thing that everyone uses. There are good things and bad things about it. In this essay I will talk about it.",
        "You've picked a topic everyone can relate to, which is a good start. To make the introduction stronger, open with a surprising fact or question to hook the reader, and replace 'good things and bad things' with your actual argument, such as 'Social media helps teenagers stay connected but harms their sleep.' Then briefly preview the main points you will cover.",
    ),
)

# --- history -----------------------------------------------------------------------------------

task(
    "ww1_causes",
    "Summarize the main causes of World War I in under 80 words.",
    (
        "",
        "Historians usually point to four long-term causes: militarism and an arms race, a system of rival alliances, imperial competition for colonies, and nationalism, especially in the Balkans. The spark came in June 1914, when Archduke Franz Ferdinand of Austria-Hungary was assassinated in Sarajevo. Within weeks, the alliances drew the great powers into a general war.",
    ),
)
task(
    "chronological_order",
    "Put these events in chronological order.",
    (
        "Moon landing, fall of the Berlin Wall, end of World War II, invention of the printing press, French Revolution",
        "1. Invention of the printing press (around 1440)\n2. French Revolution (1789)\n3. End of World War II (1945)\n4. Moon landing (1969)\n5. Fall of the Berlin Wall (1989)",
    ),
)
task(
    "invention_before_after_1900",
    "Was this invention introduced before or after the year 1900? Answer Before or After.",
    ("The telephone", "Before"),
    ("The powered airplane", "After"),
    ("The steam locomotive", "Before"),
    cls=True,
)
task(
    "who_was_this",
    "Who was this person? Answer in one or two sentences.",
    (
        "Ada Lovelace",
        "Ada Lovelace (1815-1852) was an English mathematician who wrote notes on Charles Babbage's proposed Analytical Engine, including what is often called the first computer program.",
    ),
    (
        "Mansa Musa",
        "Mansa Musa was the ruler of the Mali Empire in the 14th century, famous for his enormous wealth and his pilgrimage to Mecca in 1324.",
    ),
)
task(
    "printing_press_impact",
    "How did the printing press change Europe in the century after its invention?",
    (
        "",
        "Books became far cheaper and more plentiful, so literacy spread beyond the clergy and nobility. Ideas could travel quickly and in identical copies, which helped fuel the Protestant Reformation, the Scientific Revolution, and the spread of Renaissance learning. Printing in local languages also helped standardize languages such as German and English.",
    ),
)

# --- geography ---------------------------------------------------------------------------------

task(
    "capital_cities",
    "Name the capital city of the country.",
    ("Canada", "Ottawa"),
    ("Australia", "Canberra"),
    ("Turkey", "Ankara"),
)
task(
    "country_continent",
    "On which continent is this country located?",
    ("Peru", "South America"),
    ("Kenya", "Africa"),
    ("Mongolia", "Asia"),
    cls=True,
)
task(
    "time_zone_difference",
    "It is 3 p.m. on Tuesday in London. What time is it in Tokyo and in New York, assuming neither place is on daylight saving time?",
    (
        "",
        "Tokyo is 9 hours ahead, so it is midnight at the start of Wednesday there. New York is 5 hours behind, so it is 10 a.m. on Tuesday.",
    ),
)
task(
    "monsoon_explained",
    "Explain what a monsoon is and why it happens.",
    (
        "",
        "A monsoon is a seasonal shift in wind direction that brings a long rainy season, most famously in South Asia. In summer, land heats up faster than the ocean, so warm air rises over the land and moist air is pulled in from the sea, dropping heavy rain. In winter the pattern reverses and the winds blow dry air from land to sea.",
    ),
)

# --- sports ------------------------------------------------------------------------------------

task(
    "offside_rule",
    "Explain the offside rule in soccer to someone who has never watched a match.",
    (
        "",
        "An attacker is offside if, at the moment a teammate passes the ball forward to them, they are in the opponents' half and closer to the opponents' goal line than both the ball and the second-to-last defender (usually the last outfield player, since the goalkeeper counts as one). It stops players from just waiting next to the goal. Being level with that defender is allowed, and you can't be offside in your own half.",
    ),
)
task(
    "sport_from_terms",
    "Guess the sport these terms come from: golf, tennis, cricket, basketball, or baseball.",
    ("birdie, bogey, fairway", "Golf"),
    ("love, deuce, ace", "Tennis"),
    ("wicket, over, bowler", "Cricket"),
    cls=True,
)
task(
    "beginner_running_plan",
    "Create a one-week beginner running plan based on the runner's details.",
    (
        "Age 35, can jog 10 minutes without stopping, free on Monday, Wednesday, and Saturday.",
        "Monday: 5-minute brisk walk, then 4 rounds of 4 minutes jogging and 1 minute walking.\nWednesday: 5-minute walk, then 3 rounds of 6 minutes jogging and 2 minutes walking.\nSaturday: 5-minute walk, then 15 minutes of easy continuous jogging at a pace where you can still talk.\nOther days: rest or walk; stretch after each run.",
    ),
)
task(
    "game_recap",
    "Write a two-sentence recap of the game from these stats.",
    (
        "Falcons 24, Bears 17. Falcons QB: 3 TD passes. Bears led 17-10 at halftime. Falcons defense: 2 interceptions in the 4th quarter.",
        "The Falcons rallied from a 17-10 halftime deficit to beat the Bears 24-17, behind three touchdown passes from their quarterback. Two fourth-quarter interceptions by the Falcons defense sealed the comeback.",
    ),
)
task(
    "marathon_distance_origin",
    "Why is a marathon exactly 42.195 kilometers long?",
    (
        "",
        "Early marathons were roughly 40 km, inspired by the legend of a messenger running from Marathon to Athens. At the 1908 London Olympics the course was set to run from Windsor Castle to the royal box in the stadium, which came to 26.2 miles, or 42.195 km. That distance became the official standard in 1921.",
    ),
)

# --- music -------------------------------------------------------------------------------------

task(
    "major_vs_minor_chord",
    "How is a minor chord built differently from a major one, and how do they sound?",
    (
        "",
        "Both are built from a root, a third, and a fifth. In a major chord the third is four semitones above the root (C-E-G), which usually sounds bright or happy. In a minor chord the third is lowered by one semitone to three semitones above the root (C-E flat-G), which tends to sound darker or sadder.",
    ),
)
task(
    "orchestra_family",
    "Sort the musical instrument into its orchestral family.",
    ("Oboe", "Woodwinds"),
    ("Xylophone", "Percussion"),
    ("Trombone", "Brass"),
    cls=True,
)
task(
    "mood_playlist",
    "Suggest five songs for a playlist with the mood described.",
    (
        "A rainy Sunday afternoon: mellow and acoustic",
        "1. Nick Drake - Pink Moon\n2. Norah Jones - Don't Know Why\n3. Bon Iver - Skinny Love\n4. Iron & Wine - Such Great Heights\n5. Jose Gonzalez - Heartbeats",
    ),
)
task(
    "guitar_practice_routine",
    "How should a beginner structure a 30-minute daily guitar practice session?",
    (
        "",
        "5 minutes: warm up with finger stretches and slow chromatic exercises.\n10 minutes: practice chord changes between two or three chords, using a metronome.\n5 minutes: work on a strumming pattern.\n10 minutes: play a song you enjoy that uses those chords, even if slowly.",
    ),
)
# --- movies ------------------------------------------------------------------------------------

task(
    "films_like_these",
    "Recommend two movies for someone who liked the films listed, and say why.",
    (
        "Inception, Interstellar, The Matrix",
        "1. Arrival (2016): a thoughtful science fiction story that plays with time and memory.\n2. Edge of Tomorrow (2014): an action film built around a clever time-loop idea, with the same mix of spectacle and puzzle.",
    ),
)
task(
    "film_genre_from_logline",
    "Guess the genre of the film from its one-line description: comedy, horror, science fiction, romance, or documentary.",
    (
        "A family moves into a farmhouse where something in the cellar whispers their names at night.",
        "Horror",
    ),
    ("Two rival food-truck owners fall for each other during a summer festival.", "Romance"),
    (
        "Astronauts on a failing colony ship must decide who gets woken from cryosleep.",
        "Science fiction",
    ),
    cls=True,
)
task(
    "classic_film_review",
    "Write a spoiler-free, three-sentence review of a classic film of your choice.",
    (
        "",
        "Casablanca (1942) is a wartime romance that still feels sharp and alive, thanks to a script packed with lines people have quoted for eighty years. Humphrey Bogart and Ingrid Bergman carry the story of old lovers meeting again with restraint rather than melodrama. It rewards a first viewing and only gets better on the fifth.",
    ),
)
# --- relationships -----------------------------------------------------------------------------

task(
    "friend_cancels_plans",
    "Give kind, practical advice to the person who wrote this message.",
    (
        "My best friend keeps canceling plans at the last minute. I don't want to lose her, but I'm starting to feel like I'm not a priority.",
        "Your feelings make sense. Talk to her directly but gently: say you miss her and that the last-minute cancellations have been hurting, without accusing her. Ask if something is going on, since she may be overwhelmed. You could also suggest lower-effort plans, like a phone call or a walk, that are easier to keep. Her response will tell you a lot about where things stand.",
    ),
)
task(
    "first_date_questions",
    "List five conversation starters for a first date that go beyond 'what do you do?'",
    (
        "",
        "1. What's something you've gotten into recently that surprised you?\n2. What would your perfect lazy Sunday look like?\n3. What's the best trip you've ever taken, and why?\n4. Is there a skill you've always wanted to learn?\n5. What's a small thing that reliably makes your day better?",
    ),
)
task(
    "healthy_relationship_behavior",
    "Does this describe a healthy or an unhealthy relationship behavior?",
    ("My partner checks my phone every night without asking.", "Unhealthy"),
    (
        "We agree to take a break from the argument and talk again once we've both calmed down.",
        "Healthy",
    ),
    cls=True,
)
task(
    "forgot_birthday_apology",
    "Help me write an apology text based on what happened.",
    (
        "I forgot my sister's birthday yesterday.",
        "Hey sis, I'm so sorry I missed your birthday yesterday. There's no excuse, and I feel terrible about it. I'd love to make it up to you: can I take you out to dinner this week, my treat? Happy belated birthday, and love you lots.",
    ),
)
task(
    "saying_no_to_family",
    "How can I say no to hosting a big family holiday without causing a fight?",
    (
        "",
        "Tell them early, kindly, and briefly: 'I love that we all get together, but I can't host this year.' You don't need to over-explain. Offer something you can do, like bringing a dish or helping plan, so it's clear you still want to be part of it. If someone pushes back, calmly repeat your answer rather than debating it.",
    ),
)

# --- career ------------------------------------------------------------------------------------

task(
    "greatest_weakness_answer",
    "How should I answer 'What is your greatest weakness?' in a job interview? Give a sample answer.",
    (
        "",
        "Pick a real but manageable weakness, show you're aware of it, and explain what you're doing about it. Sample: 'I used to find it hard to delegate because I wanted everything done my way. On my last project I started assigning clear tasks with check-in points, and the team finished ahead of schedule. I still have to remind myself, but it's become much easier.'",
    ),
)
task(
    "cover_letter_opening",
    "Draft the opening paragraph of a cover letter for the job and applicant described.",
    (
        "Job: junior data analyst at a public health nonprofit. Applicant: statistics degree, volunteered at a food bank.",
        "I am excited to apply for the Junior Data Analyst position at your organization. With a degree in statistics and two years of volunteering at my local food bank, I have seen how good data can help a community group reach more people, and I would love to bring my analytical skills to work that improves public health.",
    ),
)
task(
    "job_posting_seniority",
    "Is the job posting for an entry-level, mid-level, or senior position?",
    (
        "Requires 10+ years of experience, including leading engineering teams of 20 or more.",
        "Senior",
    ),
    ("No experience needed; full training provided.", "Entry-level"),
    ("Looking for 3-5 years of hands-on experience building React applications.", "Mid-level"),
    cls=True,
)
task(
    "salary_negotiation_tips",
    "Give three tips for negotiating a starting salary.",
    (
        "",
        "1. Research the market rate for the role and location so you can name a well-supported number.\n2. Let the employer make the first offer if possible, then counter slightly above your target.\n3. Negotiate the whole package: if salary is fixed, ask about signing bonus, vacation days, or remote work.",
    ),
)
task(
    "resignation_letter",
    "Compose a brief, gracious resignation letter for someone leaving after three years.",
    (
        "",
        "Dear [Manager's name],\n\nPlease accept this letter as my formal resignation from my position as [job title], with my last day being [date], two weeks from today. I am grateful for the opportunities and support I have received over the past three years. I will do everything I can to make the handover smooth.\n\nSincerely,\n[Your name]",
    ),
)

# --- productivity ------------------------------------------------------------------------------

task(
    "eisenhower_matrix",
    "Sort this to-do list using the Eisenhower matrix.",
    (
        "Pay rent due tomorrow; plan next year's training goals; reply to a newsletter survey; fix the server outage; scroll social media",
        "Urgent and important: fix the server outage; pay rent due tomorrow.\nImportant, not urgent: plan next year's training goals.\nUrgent, not important: reply to the newsletter survey.\nNeither: scroll social media.",
    ),
)
task(
    "pomodoro_technique",
    "Describe the Pomodoro technique and who might benefit from it.",
    (
        "",
        "You work in focused 25-minute blocks with a 5-minute break after each, and take a longer 15 to 30 minute break after four blocks. It suits people who procrastinate, get distracted easily, or face big, vague tasks, because it turns work into short, concrete sprints.",
    ),
)
task(
    "meeting_agenda",
    "Turn these topics into a 30-minute meeting agenda with time slots.",
    (
        "Q3 results, new hire introductions, office move, open questions",
        "0:00-0:05 Welcome and introductions of new hires\n0:05-0:15 Q3 results\n0:15-0:25 Office move: timeline and logistics\n0:25-0:30 Open questions and next steps",
    ),
)
task(
    "reduce_phone_distraction",
    "What are some ways to stop checking my phone constantly while working?",
    (
        "",
        "Put the phone in another room or in a drawer during focus blocks. Turn off all non-essential notifications and use the built-in focus mode. Move social apps off the home screen or log out of them. Set specific times, such as every 90 minutes, when you are allowed to check it.",
    ),
)

# --- ethics ------------------------------------------------------------------------------------

task(
    "is_lying_acceptable",
    "Is it ever acceptable to lie? Give a balanced answer in under 100 words.",
    (
        "",
        "Many people think some lies are justified, such as hiding a refugee from persecutors or sparing someone's feelings about a gift. Others, following Kant, argue that lying is always wrong because it treats people as means and erodes trust. A common middle ground holds that honesty is the strong default, and that a lie needs a serious reason, like preventing real harm, rather than mere convenience.",
    ),
)
task(
    "stakeholder_analysis",
    "Identify the stakeholders affected by this decision and explain how each is affected.",
    (
        "A city decides to close a downtown street to cars and turn it into a pedestrian zone.",
        "- Shop and cafe owners: more foot traffic, but harder deliveries and fewer drive-in customers.\n- Residents: quieter, safer streets, but less convenient parking.\n- Drivers and commuters: longer routes and possible congestion on nearby roads.\n- Pedestrians and cyclists: safer, more pleasant space.\n- City government: construction costs and possible gains in tourism and tax revenue.",
    ),
)
task(
    "found_wallet_dilemma",
    "You find a wallet with $200 and an ID inside. What should you do, and why?",
    (
        "",
        "Return it with all the money to the owner, either by contacting them using the ID or by handing it to the police or the place where you found it. The money isn't yours, losing it would probably cause the owner real stress, and you would want someone to do the same for you.",
    ),
)

# --- logic puzzles -----------------------------------------------------------------------------

task(
    "age_ordering_puzzle",
    "Anna is older than Ben. Ben is older than Carla. Carla is older than Dev. Who is the second youngest?",
    ("", "Carla. The order from oldest to youngest is Anna, Ben, Carla, Dev."),
)
task(
    "knights_and_knaves",
    "On an island, knights always tell the truth and knaves always lie. A says, 'We are both knaves.' What are A and B?",
    (
        "",
        "A is a knave and B is a knight. If A were a knight, the statement would be true, making A a knave, which is a contradiction. So A is a knave and the statement is false, which means they are not both knaves: B must be a knight.",
    ),
)
task(
    "next_in_sequence",
    "What number comes next in the sequence? Explain the pattern.",
    (
        "2, 6, 12, 20, 30",
        "42. The differences between terms are 4, 6, 8, 10, so the next difference is 12.",
    ),
    (
        "1, 1, 2, 3, 5, 8",
        "13. Each number is the sum of the two before it (the Fibonacci sequence).",
    ),
)
task(
    "syllogism_validity",
    "Does the conclusion follow logically from the premises? Answer Valid or Invalid.",
    (
        "All roses are flowers. Some flowers fade quickly. Therefore, some roses fade quickly.",
        "Invalid",
    ),
    (
        "All mammals are warm-blooded. Whales are mammals. Therefore, whales are warm-blooded.",
        "Valid",
    ),
    cls=True,
)
task(
    "wolf_goat_cabbage",
    "How can a farmer get a wolf, a goat, and a cabbage across a river if the boat holds only him and one of them?",
    (
        "",
        "1. Take the goat across and leave it.\n2. Go back and take the wolf across.\n3. Bring the goat back with you.\n4. Leave the goat, take the cabbage across, and leave it with the wolf.\n5. Go back for the goat.\nThe wolf is never left alone with the goat, and the goat is never left alone with the cabbage.",
    ),
)
task(
    "odd_one_out",
    "Find the odd one out and explain why.",
    ("apple, banana, carrot, grape", "Carrot: it is a vegetable, while the others are fruits."),
    (
        "Mercury, Venus, Jupiter, Mars",
        "Jupiter: it is a gas giant, while the others are rocky planets.",
    ),
)

# --- data formatting ---------------------------------------------------------------------------

task(
    "text_to_markdown_table",
    "Present this information as a Markdown table.",
    (
        "Apples cost $1.20 per pound and are in season in fall. Strawberries cost $3.50 per pound and are in season in spring. Peaches cost $2.00 per pound and are in season in summer.",
        "| Fruit | Price per pound | Season |\n|---|---|---|\n| Apples | $1.20 | Fall |\n| Strawberries | $3.50 | Spring |\n| Peaches | $2.00 | Summer |",
    ),
)
task(
    "json_to_sentence",
    "Describe the contents of this JSON object in a plain-English sentence.",
    (
        '{"flight": "BA117", "from": "LHR", "to": "JFK", "departs": "08:35", "status": "delayed", "delay_minutes": 45}',
        "Flight BA117 from London Heathrow to New York JFK, scheduled to depart at 08:35, is delayed by 45 minutes.",
    ),
)
task(
    "normalize_phone_numbers",
    "Normalize the phone numbers to the format (XXX) XXX-XXXX.",
    ("555.867.5309\n2125550143\n+1 415 555 0198", "(555) 867-5309\n(212) 555-0143\n(415) 555-0198"),
)
task(
    "contacts_to_csv",
    "Turn this list of contacts into CSV with a header row.",
    (
        "Maria Lopez, maria@example.com, Sales\nJohn Park, jpark@example.com, Engineering",
        "name,email,department\nMaria Lopez,maria@example.com,Sales\nJohn Park,jpark@example.com,Engineering",
    ),
)
# --- rewriting ---------------------------------------------------------------------------------

task(
    "fifth_grade_reading_level",
    "Rewrite the paragraph for readers at a fifth-grade reading level.",
    (
        "Inflation denotes a sustained increase in the general price level of goods and services, which consequently erodes the purchasing power of currency.",
        "Inflation means that prices for most things keep going up over time. Because of that, the same amount of money buys less than it used to.",
    ),
)
task(
    "remove_corporate_jargon",
    "Replace the corporate jargon in this sentence with plain language.",
    (
        "Let's circle back offline to leverage our synergies and move the needle on Q3 deliverables.",
        "Let's talk about this later, one on one, and work together to make real progress on what's due this quarter.",
    ),
)
task(
    "shakespearean_style",
    "Rewrite this sentence in the style of Shakespeare.",
    (
        "I can't find my phone charger anywhere.",
        "Alas, whither hath my charger fled? I have sought it in every corner, yet find it not.",
    ),
)
task(
    "gender_neutral_language",
    "Reword the sentence so that it is gender-neutral.",
    (
        "Every student must bring his textbook to class.",
        "Every student must bring their textbook to class.",
    ),
    ("We need more manpower to finish the project.", "We need more staff to finish the project."),
)

# --- summarization -----------------------------------------------------------------------------

task(
    "email_tldr",
    "Give a TL;DR of this email.",
    (
        "Hi all, quick update on the office renovation. The contractors found asbestos in the ceiling of the second floor, so work there is paused until a specialist team removes it, probably in three weeks. The first floor is on schedule and should be done by the end of the month. Until then, the second-floor teams will keep working from the temporary space in Building C. Thanks for your patience. - Facilities",
        "Asbestos found on the 2nd floor pauses renovation there for about three weeks; the 1st floor finishes this month. 2nd-floor teams stay in Building C for now.",
    ),
)
task(
    "article_three_bullets",
    "Condense the article into three bullet points.",
    (
        "A new study of 20,000 adults found that people who walked at least 7,000 steps a day had a 50 to 70 percent lower risk of dying during the 11-year study period than those who walked fewer steps. Benefits leveled off above about 10,000 steps. Walking speed did not seem to matter as much as the total number of steps. The researchers say the results suggest that even moderate activity has large health benefits.",
        "- In a study of 20,000 adults, walking 7,000+ steps a day was linked to a 50-70% lower risk of death over 11 years.\n- Extra benefits leveled off beyond about 10,000 steps.\n- Total steps mattered more than walking speed.",
    ),
)
# --- extraction --------------------------------------------------------------------------------

task(
    "people_and_organizations",
    "Extract the names of people and organizations from the sentence.",
    (
        "After leaving Google, Fei Li joined the Red Cross, where she worked with Ahmed Khan on disaster mapping projects.",
        "People: Fei Li, Ahmed Khan\nOrganizations: Google, the Red Cross",
    ),
)
task(
    "recipe_ingredient_extraction",
    "What ingredients are mentioned in this recipe paragraph?",
    (
        "Whisk two eggs with a splash of milk and a pinch of salt. Melt a knob of butter in a pan, pour in the eggs, and stir gently. Finish with chopped chives.",
        "Eggs, milk, salt, butter, chives",
    ),
)
# --- question answering ------------------------------------------------------------------------

task(
    "answer_from_passage",
    "Using nothing but the passage provided, respond to the question.",
    (
        "Passage: The Amazon rainforest covers about 5.5 million square kilometers, and roughly 60 percent of it lies in Brazil. Peru and Colombia hold the next largest shares.\nQuestion: Which country contains most of the Amazon rainforest?",
        "Brazil, which contains roughly 60 percent of it.",
    ),
)
task(
    "bones_in_body",
    "How many bones are in the adult human body?",
    ("", "206."),
)
task(
    "sistine_chapel_painter",
    "Who painted the ceiling of the Sistine Chapel, and roughly when?",
    ("", "Michelangelo painted it between 1508 and 1512, on a commission from Pope Julius II."),
)
task(
    "unanswerable_question",
    "Answer the question from the text; if the text does not contain the answer, reply 'Not stated.'",
    (
        "Text: The museum opens at 10 a.m. and closes at 6 p.m., except on Mondays.\nQuestion: How much does a ticket cost?",
        "Not stated.",
    ),
    (
        "Text: The museum opens at 10 a.m. and closes at 6 p.m., except on Mondays.\nQuestion: Is the museum open on Mondays?",
        "No, it is closed on Mondays.",
    ),
)

# --- brainstorming -----------------------------------------------------------------------------

task(
    "reuse_glass_jars",
    "List six ways to reuse glass jars around the house.",
    (
        "",
        "1. Store dry foods like rice, pasta, and beans.\n2. Keep screws, nails, and buttons sorted.\n3. Use them as vases for small flowers.\n4. Make overnight oats or salads to take to work.\n5. Turn them into candle holders.\n6. Hold pens and brushes on a desk.",
    ),
)
task(
    "science_fair_ideas",
    "Give me ideas for a 10-year-old's science fair project that uses household materials.",
    (
        "",
        "- Which paper towel brand absorbs the most water?\n- Does the temperature of water change how fast sugar dissolves?\n- Which household liquids make an egg float?\n- Do plants grow better with music, or in silence?\n- Which homemade insulation keeps an ice cube frozen longest?",
    ),
)
task(
    "podcast_titles_gardening",
    "I'm starting a podcast about growing food on city balconies. What could I call it?",
    (
        "",
        "- The Balcony Harvest\n- Small Space, Big Crop\n- Concrete to Compost\n- Ten Floors Up and Growing\n- Pots and Plots",
    ),
)
task(
    "fundraiser_ideas",
    "What are some fundraising ideas for a school library that needs new books?",
    (
        "",
        "Hold a used-book sale of donated books, run a read-a-thon where students collect pledges per page, ask local businesses to sponsor a shelf, organize a bake sale during parents' evening, or set up an online wish list so families can buy specific titles.",
    ),
)

# --- analogies and riddles ---------------------------------------------------------------------

task(
    "ram_vs_storage_analogy",
    "Create an analogy that explains how a computer's RAM differs from its hard drive.",
    (
        "",
        "RAM is like your desk and the hard drive is like a filing cabinet. The desk is small but everything on it is right at hand, so you work fast; when you go home, the desk is cleared. The cabinet holds far more and keeps things permanently, but fetching something from it takes longer.",
    ),
)
task(
    "solve_riddle",
    "Figure out the answer to this riddle.",
    ("What has keys but can't open locks?", "A piano."),
    ("What gets wetter the more it dries?", "A towel."),
)
task(
    "explain_idiom",
    "What does this idiom mean? Use it in a new sentence.",
    (
        "Bite the bullet",
        "To make yourself do something unpleasant that you have been avoiding. Example: I finally bit the bullet and booked the dentist appointment.",
    ),
    (
        "Spill the beans",
        "To reveal a secret. Example: Don't spill the beans about the surprise party.",
    ),
)

# --- commonsense -------------------------------------------------------------------------------

task(
    "what_happens_next",
    "Predict what most likely happens next.",
    (
        "Maya leaves her ice cream cone on a park bench in the July sun while she ties her shoe for ten minutes.",
        "The ice cream melts and drips down the cone onto the bench.",
    ),
    ("Jack forgets to water his houseplant for a month.", "The plant wilts and may die."),
)
task(
    "plausible_or_implausible",
    "Is the following scenario plausible or implausible?",
    ("A man emptied an Olympic swimming pool with a teaspoon in five minutes.", "Implausible"),
    ("She took an umbrella because the forecast said it would rain.", "Plausible"),
    cls=True,
)
task(
    "heavier_object",
    "Which of the two objects is heavier? Answer with the object's name.",
    ("A bowling ball or a basketball", "A bowling ball"),
    ("A feather pillow or a brick", "A brick"),
    cls=True,
)
task(
    "why_not_metal_in_microwave",
    "Why shouldn't you put a metal fork in a microwave?",
    (
        "",
        "Microwaves make electric charges move in metal. On thin or pointed metal like the tines of a fork, charge builds up at the tips and can jump through the air as sparks, which can damage the oven or start a fire.",
    ),
)

# --- more classification -----------------------------------------------------------------------

task(
    "customer_intent",
    "What does the customer want: a refund, a replacement, or information?",
    (
        "The kettle I bought stopped working after a week. Please just send me a new one.",
        "Replacement",
    ),
    ("Does this jacket come in size XL?", "Information"),
    ("I returned the shoes last Monday and would like my money back.", "Refund"),
    cls=True,
)
task(
    "language_identification",
    "Identify the language of the sentence: French, Spanish, Italian, Portuguese, or German.",
    ("Ich habe heute keine Zeit.", "German"),
    ("Obrigado pela ajuda.", "Portuguese"),
    ("Dov'e la stazione?", "Italian"),
    cls=True,
)
task(
    "clickbait_headline",
    "Decide if the headline is clickbait. Answer Clickbait or Not clickbait.",
    ("You Won't Believe What This Dog Did When Its Owner Came Home!", "Clickbait"),
    ("City Council Approves New Bus Route to Airport", "Not clickbait"),
    cls=True,
)
task(
    "tomato_fruit_or_vegetable",
    "Botanically speaking, is a tomato a fruit or a vegetable?",
    ("", "Fruit"),
    cls=True,
)
task(
    "question_or_statement",
    "Is this sentence a question, a command, a statement, or an exclamation?",
    ("Did you lock the back door?", "Question"),
    ("Close the window, please.", "Command"),
    ("What a beautiful sunset!", "Exclamation"),
    cls=True,
)
# --- assorted open-ended -----------------------------------------------------------------------

task(
    "explain_inflation_causes",
    "What are the usual reasons prices rise across a whole economy?",
    (
        "",
        "Economists usually name two main causes. Demand-pull inflation happens when people and businesses want to buy more than the economy can produce, for example after big stimulus spending or cheap credit. Cost-push inflation happens when production costs, such as energy or wages, rise and firms pass them on. Expectations matter too: if everyone expects higher prices, workers ask for raises and firms raise prices in advance.",
    ),
)
task(
    "pros_cons_remote_work",
    "What are the pros and cons of working from home full-time?",
    (
        "",
        "Pros: no commute, more flexible hours, fewer office interruptions, and often lower costs for lunch and transport.\nCons: it can feel isolating, work and home life blur together, spontaneous collaboration is harder, and junior staff may miss out on learning by watching colleagues.",
    ),
)
task(
    "mnemonic_planets",
    "Invent a mnemonic to remember the order of the planets from the Sun.",
    (
        "",
        "My Very Easy Method Just Speeds Up Naming (Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus, Neptune).",
    ),
)
task(
    "counterargument",
    "Offer a strong counterargument to the claim.",
    (
        "Homework should be banned in elementary schools.",
        "Short, well-designed homework helps young children practice reading and basic math, builds routines and responsibility, and gives parents a window into what their child is learning. Rather than banning it, schools could limit it to 10-20 minutes and make it meaningful.",
    ),
)
task(
    "explain_blockchain_simply",
    "Without using technical jargon, tell me what a blockchain is.",
    (
        "",
        "A blockchain is like a shared notebook that many people keep identical copies of. New entries are added in pages, and each page is sealed in a way that depends on the page before it. Because everyone has a copy and changing an old page would break all the seals after it, it is very hard for anyone to secretly rewrite the history.",
    ),
)
task(
    "weekend_in_rain",
    "Suggest some things to do with two kids on a rainy weekend at home.",
    (
        "",
        "Build a blanket fort and read stories inside it, bake and decorate cookies, hold a living-room treasure hunt with written clues, put on a puppet show with socks, or set up an indoor obstacle course with cushions and chairs.",
    ),
)
task(
    "job_email_follow_up",
    "Write a short follow-up email to send a week after a job interview with no reply.",
    (
        "",
        "Subject: Following up on the Marketing Coordinator interview\n\nDear Ms. Reyes,\n\nThank you again for meeting with me last Tuesday. I enjoyed learning about the team's plans for the spring campaign and remain very interested in the role. Could you let me know if there is any update on the timeline for a decision?\n\nBest regards,\n[Your name]",
    ),
)
task(
    "explain_supply_demand",
    "Using concert tickets as the example, explain supply and demand.",
    (
        "",
        "A venue has a fixed number of seats, which is the supply. When a hugely popular band plays, many more people want tickets than there are seats, so demand is high and prices climb, especially on resale sites. For a little-known band, fewer people want to go, so the venue has to lower prices to fill the seats.",
    ),
)
task(
    "convert_recipe_temperature",
    "My oven only shows Celsius. What should I set it to for the usual baking temperatures of 325, 350, 400, and 425 degrees Fahrenheit?",
    ("", "325 F: about 160 C\n350 F: about 180 C\n400 F: about 200 C\n425 F: about 220 C"),
)
task(
    "correct_factual_error",
    "There is a factual error in the sentence. Find and correct it.",
    (
        "The Pacific Ocean is the smallest ocean on Earth.",
        "The Pacific is the largest ocean on Earth, not the smallest; the Arctic Ocean is the smallest.",
    ),
    (
        "Water freezes at 10 degrees Celsius at sea level.",
        "Water freezes at 0 degrees Celsius at sea level, not 10.",
    ),
)
task(
    "estimate_fermi",
    "Roughly how many piano tuners work in a city of one million people? Walk through a Fermi estimate.",
    (
        "",
        "Assume about 2.5 people per household, so 400,000 households. If 1 in 20 has a piano, that is 20,000 pianos. Tuned once a year, that is 20,000 tunings. A tuner can do about 4 a day for 250 days, or 1,000 a year. So the city needs roughly 20 piano tuners.",
    ),
)
task(
    "ethical_ai_hiring",
    "Name two risks of using AI to screen job applications, and one safeguard for each.",
    (
        "",
        "1. Bias: a model trained on past hiring decisions can copy old discrimination. Safeguard: audit outcomes regularly by gender, age, and ethnicity.\n2. Opacity: rejected candidates can't learn why. Safeguard: keep a human reviewer for rejections and give applicants a way to ask for reconsideration.",
    ),
)
task(
    "birthday_message_coworker",
    "Suggest a warm birthday message for a coworker I don't know very well.",
    ("", "Happy birthday! Wishing you a relaxing day and a great year ahead. Enjoy the cake!"),
)


def main() -> None:
    """Number the tasks and write them as JSON Lines."""
    names = [t["name"] for t in TASKS]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SystemExit(f"duplicate names: {sorted(duplicates)}")
    with OUT.open("w", encoding="utf-8") as fh:
        for number, t in enumerate(TASKS):
            record = {"id": f"seed-{number:03d}", **t}
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"wrote {len(TASKS)} tasks to {OUT}")


if __name__ == "__main__":
    main()
