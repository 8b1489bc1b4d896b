"""A small built-in multiple-choice medical set in the public MedMCQA schema (no download).

Twenty textbook facts, each asked twice with the options in another order and the second time in other
words, so that an agent that asks once and remembers (history or reflected knowledge) needs no second advice.
"""

from __future__ import annotations

import random

_FACTS = (
    ("Deficiency of which vitamin causes scurvy?", "Which vitamin prevents scurvy?", "Vitamin C",
     ("Vitamin A", "Vitamin D", "Vitamin K"), "Vitamin C is needed for collagen synthesis; its lack causes scurvy."),
    ("Which vitamin deficiency causes rickets in children?", "Rickets results from lack of which vitamin?", "Vitamin D",
     ("Vitamin B12", "Vitamin C", "Vitamin E"), "Vitamin D deficiency impairs bone mineralisation, causing rickets."),
    ("Night blindness is an early sign of deficiency of:", "Which vitamin deficiency first shows as night blindness?",
     "Vitamin A", ("Vitamin B1", "Vitamin C", "Vitamin K"),
     "Vitamin A forms rhodopsin; deficiency causes night blindness."),
    ("Beriberi is caused by deficiency of:", "Which vitamin is lacking in beriberi?", "Thiamine",
     ("Riboflavin", "Niacin", "Folate"), "Thiamine (vitamin B1) deficiency causes beriberi."),
    ("Pellagra is due to deficiency of:", "Which vitamin deficiency causes pellagra?", "Niacin",
     ("Thiamine", "Pyridoxine", "Biotin"), "Niacin deficiency causes pellagra: dermatitis, diarrhoea, dementia."),
    ("Which clotting factor depends on vitamin K?", "Name a vitamin K-dependent clotting factor.", "Factor II",
     ("Factor VIII", "Factor XII", "Factor XIII"), "Factors II, VII, IX and X need vitamin K for carboxylation."),
    ("The pacemaker of the normal heart is the:", "Which structure normally sets the heart rate?", "Sinoatrial node",
     ("Atrioventricular node", "Bundle of His", "Purkinje fibres"),
     "The sinoatrial node has the fastest intrinsic rate."),
    ("Insulin is secreted by which pancreatic cells?", "Which islet cells produce insulin?", "Beta cells",
     ("Alpha cells", "Delta cells", "Acinar cells"), "Beta cells of the islets of Langerhans secrete insulin."),
    ("The largest organ of the human body is the:", "Which is the largest organ by area and weight?", "Skin",
     ("Liver", "Brain", "Lung"), "The skin is the largest organ of the body."),
    ("The functional unit of the kidney is the:", "Which structure is the kidney's basic functional unit?", "Nephron",
     ("Neuron", "Alveolus", "Hepatocyte"), "The nephron filters blood and forms urine."),
    ("Gas exchange in the lung takes place in the:", "Where in the lung are oxygen and carbon dioxide exchanged?",
     "Alveoli", ("Bronchi", "Trachea", "Pleura"), "Alveoli have the thin walls where gas exchange happens."),
    ("Which blood cells carry oxygen?", "Oxygen is transported mainly by which cells?", "Erythrocytes",
     ("Neutrophils", "Platelets", "Lymphocytes"), "Erythrocytes carry oxygen bound to haemoglobin."),
    ("The universal donor blood group is:", "Which blood group can be given to recipients of any ABO group?",
     "O negative", ("AB positive", "A negative", "B positive"), "O negative red cells lack A, B and RhD antigens."),
    ("Which nerve is affected in carpal tunnel syndrome?", "Carpal tunnel syndrome compresses which nerve?",
     "Median nerve", ("Ulnar nerve", "Radial nerve", "Axillary nerve"),
     "The median nerve runs through the carpal tunnel."),
    ("The drug of choice for anaphylaxis is:", "Which drug is given first in anaphylactic shock?", "Adrenaline",
     ("Atropine", "Diazepam", "Paracetamol"), "Intramuscular adrenaline is first-line treatment of anaphylaxis."),
    ("Which hormone is produced by the thyroid follicular cells?", "Thyroid follicular cells secrete:", "Thyroxine",
     ("Calcitonin", "Cortisol", "Prolactin"), "Follicular cells make thyroxine; parafollicular cells make calcitonin."),
    ("Iodine deficiency classically causes:", "Lack of dietary iodine leads to:", "Goitre",
     ("Scurvy", "Anaemia of chronic disease", "Gout"),
     "Iodine deficiency raises TSH and enlarges the thyroid (goitre)."),
    ("Koplik spots are seen in:", "Which infection shows Koplik spots on the buccal mucosa?", "Measles",
     ("Mumps", "Rubella", "Chickenpox"), "Koplik spots are pathognomonic of measles."),
    ("The causative organism of tuberculosis is:", "Tuberculosis is caused by:", "Mycobacterium tuberculosis",
     ("Staphylococcus aureus", "Treponema pallidum", "Escherichia coli"), "Mycobacterium tuberculosis causes TB."),
    ("Which bone is most commonly fractured at the wrist in a fall on an outstretched hand?",
     "A Colles fracture involves which bone?", "Radius", ("Ulna", "Scaphoid", "Humerus"),
     "A fall on an outstretched hand typically fractures the distal radius (Colles fracture)."),
)


def builtin_medmcqa_records() -> list[dict]:
    """Forty records in the public MedMCQA schema, deterministic."""
    rng = random.Random("agile-builtin-medmcqa-1")
    first, second = [], []
    for question, paraphrase, answer, distractors, explanation in _FACTS:
        for text, bucket in ((question, first), (paraphrase, second)):
            options = [answer, *distractors]
            rng.shuffle(options)
            bucket.append({
                "question": text, "opa": options[0], "opb": options[1], "opc": options[2], "opd": options[3],
                "cop": options.index(answer), "exp": explanation, "subject_name": "", "topic_name": "",
                "choice_type": "single",
            })
    rng.shuffle(second)
    records = first + second
    return [{"id": f"builtin-{i:03d}", **record} for i, record in enumerate(records)]
