"""A note's layout (clinlm.context.layout) and what follows from it: sections from header to header,
ConText scopes that stop at list items, family history lines, and what is not a concept
(clinlm.context.concepts). Entities are placed by hand here (the model-free part); tests/test_whole_notes.py
runs the default model on whole notes."""
from __future__ import annotations

import json
from functools import partial

import pytest
from context_cases import doc_with
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinlm.context import ContextAnnotator, default_annotator
from clinlm.context.concepts import (COURSE_WORDS, EDGE_WORDS, add_dosed_drugs, add_listed_drugs, drop_names, name_spans,
                                     split_at_breaks, split_at_causes, split_at_dashes, trim_edge_words, trim_values)
from clinlm.context.layout import LINE_KINDS, NEWLINE, ROLES, Layout, read_layout
from clinlm.document import Document, Entity
from clinlm.errors import InputError

NOTE = """Patient: Donna Torres
DOB: 03/14/1961

CHIEF COMPLAINT
Chest pain for two days.

HISTORY OF PRESENT ILLNESS
Mrs. Torres is a 63-year-old woman who presents with chest pain. She denies chest pain or dyspnea on exertion. His wife got him into barre classes.

PAST HISTORY:
Hypertension. Appendectomy in 1990.

[FAMILY HISTORY]
Mother: breast cancer
Paternal grandfather: myocardial infarction

REVIEW OF SYSTEMS
- Cardiovascular: Denies palpitations or syncope
- Respiratory: Positive for cough
Psychiatric: Endorses depression
Gastrointestinal: Reports nausea

PHYSICAL EXAMINATION
Heart: Regular rate and rhythm. No murmurs.
Lungs: Lungs are clear to auscultation bilaterally.
Abdomen: Abdomen is soft, nontender.
Extremities: No edema.

ASSESSMENT AND PLAN
1. Depression. Start sertraline.
2. Hypertension.

INSTRUCTIONS
Return if chest pain worsens.
"""


@pytest.fixture(scope="module")
def annotator() -> ContextAnnotator:
    return default_annotator()




def _by_text(doc: Document) -> dict[str, dict]:
    return {e.text: e.attributes for e in doc.entities}


# -- the layout ------------------------------------------------------------------------------------
def test_headers_of_every_style_start_sections_that_end_at_the_next_header():
    layout = read_layout(NOTE)
    got = [(NOTE[s.header_start:s.header_end], s.category) for s in layout.sections]
    assert got == [
        ("CHIEF COMPLAINT", "chief_complaint"), ("HISTORY OF PRESENT ILLNESS", "history_of_present_illness"),
        ("PAST HISTORY:", "past_medical_history"), ("[FAMILY HISTORY]", "family_history"),
        ("REVIEW OF SYSTEMS", "review_of_systems"), ("PHYSICAL EXAMINATION", "physical_exam"),
        ("ASSESSMENT AND PLAN", "observation_and_plan"), ("INSTRUCTIONS", "patient_instructions")]
    assert layout.section_at(NOTE.index("Appendectomy")).category == "past_medical_history"
    assert layout.section_at(NOTE.index("Start sertraline")).category == "observation_and_plan"  # PAST HISTORY ended
    assert layout.section_at(NOTE.index("Donna")) is None  # before the first header
    subs = {NOTE[s.header_start:s.header_end]: s.role for s in layout.subsections}
    assert subs == {"Patient:": "field", "DOB:": "field", "Mother:": "relative", "Paternal grandfather:": "relative",
                    "- Cardiovascular:": "system", "- Respiratory:": "system", "Psychiatric:": "system",
                    "Gastrointestinal:": "system", "Heart:": "system", "Lungs:": "system", "Abdomen:": "system",
                    "Extremities:": "system"}
    kinds = {NOTE[ln.start:ln.end]: ln.kind for ln in layout.lines}
    assert kinds["1. Depression. Start sertraline."] == "item" and kinds[""] == "blank"
    assert kinds["Chest pain for two days."] == "text" and kinds["INSTRUCTIONS"] == "header"


@pytest.mark.parametrize("text,header,category", [
    ("1. CHIEF COMPLAINT\nCough.", "1. CHIEF COMPLAINT", "chief_complaint"),
    ("Review of Systems:\nNo fever.", "Review of Systems:", "review_of_systems"),
    ("HPI: 55-year-old man with cough.", "HPI:", "history_of_present_illness"),
    ("Vitals stable. Plan: follow up in 2 weeks.", "Plan:", "observation_and_plan"),
    ("GYN HISTORY\nG2P2.", "GYN HISTORY", "gyn_history"),
    ("[DISPOSITION]\nHome.", "[DISPOSITION]", "observation_and_plan"),
    ("EMERGENCY DEPARTMENT NOTE\nSeen today.", "EMERGENCY DEPARTMENT NOTE", "emergency_department_note"),  # a title
    ("MDM / Plan:\nAcute appendicitis.", "MDM / Plan:", "observation_and_plan"),  # medical decision making
    ("DISCHARGE DIAGNOSES:\n1. Pneumonia.", "DISCHARGE DIAGNOSES:", "diagnoses"),
    # when a section was written is no part of what it is
    ("PHYSICAL EXAM AT DISCHARGE:\nNo edema.", "PHYSICAL EXAM AT DISCHARGE:", "physical_exam"),
    ("LABS ON ADMISSION:\nWBC 9.8.", "LABS ON ADMISSION:", "labs_and_studies"),
    ("Discharge Exam:\nNo edema.", "Discharge Exam:", "physical_exam"),
    ("MEDICATIONS PRIOR TO ADMISSION:\nAspirin.", "MEDICATIONS PRIOR TO ADMISSION:", "medications"),
    ("CONDITION AT DISCHARGE:\nStable.", "CONDITION AT DISCHARGE:", "condition_at_discharge"),  # no rule: its own name
    # two names joined: the first the rules know (an ICU progress note, 2026-12-07)
    ("SUBJECTIVE / INTERVAL EVENTS:\nNo nausea.", "SUBJECTIVE / INTERVAL EVENTS:", "history_of_present_illness"),
    ("HPI/INTERVAL HISTORY:\nNo cough.", "HPI/INTERVAL HISTORY:", "history_of_present_illness"),
    ("DIET & ACTIVITY:\nAs tolerated.", "DIET & ACTIVITY:", "diet_activity"),  # neither part known: its own name
])
def test_header_styles(text, header, category):
    (s,) = read_layout(text).sections
    assert (text[s.header_start:s.header_end], s.category) == (header, category)


def test_an_imaging_reports_findings_and_examination_are_the_imaging():
    report = ("EXAMINATION: CT ABDOMEN AND PELVIS\nINDICATION: Pain.\nCOMPARISON: None.\n"
              "TECHNIQUE: Axial images.\nFINDINGS:\nLIVER: Normal.\nIMPRESSION:\n1. Appendicitis.\n")
    cats = {s.name: s.category for s in read_layout(report).sections}
    assert cats["EXAMINATION"] == cats["FINDINGS"] == cats["COMPARISON"] == "imaging"
    assert cats["IMPRESSION"] == "observation_and_plan"  # what the radiologist concludes
    assert cats["INDICATION"] == "history_of_present_illness"
    echo = "TRANSTHORACIC ECHOCARDIOGRAM REPORT\nIndication: Dyspnea.\nFINDINGS:\nMild MR.\nCONCLUSIONS:\n1. MR.\n"
    assert [s.category for s in read_layout(echo).sections][1:] == ["history_of_present_illness", "imaging",
                                                                     "observation_and_plan"]
    # without a TECHNIQUE header it is a visit note: its examination is the physical exam
    visit = "EXAMINATION:\nLungs clear.\nFINDINGS:\nWBC 9.\n"
    assert [s.category for s in read_layout(visit).sections] == ["physical_exam", "labs_and_studies"]


@pytest.mark.parametrize("text", ["HTN\nDM\nCAD", "Hypertension\nAsthma", "She has no known allergies.\nCough.",
                                  "Chest pain: worse with exertion."])
def test_what_is_not_a_header(text):
    assert read_layout(text).sections == []


def test_a_system_line_that_names_a_section_starts_one_outside_an_exam():
    """"Vitals: ..." is a sub-header inside an exam, but after a social history it starts the exam."""
    text = "Social Hx: Smokes.\nVitals: BP 128/76.\nExam:\nGeneral: well.\nVitals: T 37.\n"
    layout = read_layout(text)
    assert [(text[s.header_start:s.header_end], s.category) for s in layout.sections] == [
        ("Social Hx:", "social_history"), ("Vitals:", "physical_exam"), ("Exam:", "physical_exam")]
    assert [text[s.header_start:s.header_end] for s in layout.subsections] == ["General:", "Vitals:"]


def test_inline_system_subheaders_and_exam_subheaders_that_are_also_headers():
    text = ("ROS\nCONSTITUTIONAL:  No fever. RESPIRATORY:  No cough.\n\nPHYSICAL EXAM\nVital Signs\nBP 120/80.\n"
            "6. LABS\nNormal.")
    layout = read_layout(text)
    assert [s.category for s in layout.sections] == ["review_of_systems", "physical_exam", "labs_and_studies"]
    assert [text[s.header_start:s.header_end] for s in layout.subsections] == [
        "CONSTITUTIONAL:", "RESPIRATORY:", "Vital Signs"]


def test_a_subheader_first_on_a_headers_line():
    """"PHYSICAL EXAMINATION: LYMPH: There was no node" (whole MTS-Dialog notes): LYMPH is the exam's
    first system, not a concept; a colon inside the header's text later on is no sub-header."""
    text = ("PHYSICAL EXAMINATION: LYMPH: There was no appreciated node. HEART: Regular.\n\n"
            "PLAN: Follow up at 10:30. Ratio 2: 1.")
    layout = read_layout(text)
    assert [s.category for s in layout.sections] == ["physical_exam", "observation_and_plan"]
    assert [text[s.header_start:s.header_end] for s in layout.subsections] == ["LYMPH:", "HEART:"]
    assert layout.in_header(text.index("LYMPH"), text.index("LYMPH") + 5)


def test_parts_of_a_social_history_are_no_patient_education():
    """MTS-Dialog: "Social History: ... Education: The patient has bachelor's degree. Military History:
    ..." made the rest of the note a patient-education section, so its concepts came out hypothetical."""
    text = ("Social History: Marital Status and Dependents:  Married three times. Education:  Bachelor's degree. "
            "Military History:  Six years in the army.\nROS:\nNo fever.\n\n"
            "SOCIAL HISTORY:\nEducation: high school.\n\nPLAN:\nRest.\nEducation: reviewed warning signs.")
    layout = read_layout(text)
    assert [s.category for s in layout.sections] == ["social_history", "review_of_systems", "social_history",
                                                     "observation_and_plan", "patient_education"]
    assert [(text[s.header_start:s.header_end], s.role) for s in layout.subsections] == [
        ("Marital Status and Dependents:", "social"), ("Education:", "social"), ("Military History:", "social"),
        ("Education:", "social")]


def test_wrapped_lines_are_no_break_but_list_lines_are():
    text = "She has chronic kidney disease and was admitted with fever,\nworsening dyspnea and cough.\nNo edema.\n- Lungs clear"
    layout = read_layout(text)
    assert text.index("worsening") not in layout.breaks
    assert text.index("No edema") in layout.breaks and text.index("- Lungs") in layout.breaks
    assert text.index("Lungs clear") in layout.breaks  # an item's text starts after its bullet


# -- hypothesis: offsets ------------------------------------------------------------------------------
LINES = ["CHIEF COMPLAINT", "[FAMILY HISTORY]", "PAST HISTORY:", "1. HPI", "Mother: breast cancer", "- Lungs: clear",
         "\u2022 Psychiatric: Endorses depression", "Denies chest pain or dyspnea", "No edema.", "", "  ", "Plan: rest.",
         "Patient: Ann Lee", "HEENT:", "Vital signs", "fever,", "was admitted with a long line of wrapped text and",
         "x", "Dr. Smith saw her. Assessment: ok", ":", "-", "1.", "[", "]", "A - b"]
BREAKS = ["\n", "\r\n", "\r", "\u2028", "\n\n"]


@st.composite
def notes(draw):
    parts = draw(st.lists(st.one_of(st.sampled_from(LINES), st.text(st.sampled_from(list("aZ :-[]1.\u00e9 \t")),
                                                                     max_size=12)), min_size=0, max_size=12))
    seps = draw(st.lists(st.sampled_from(BREAKS), min_size=len(parts), max_size=len(parts)))
    return "".join(p + s for p, s in zip(parts, seps)) + draw(st.sampled_from(["", "end", "\n"]))


@settings(max_examples=200, deadline=None)
@given(notes())
def test_layout_spans_partition_the_lines_and_sections_are_ordered(text):
    layout = read_layout(text)
    # lines: in order, no line break inside, each followed by exactly one line break (the last may end the text)
    pos = 0
    for ln in layout.lines:
        assert ln.start == pos and pos <= ln.end <= len(text) and not NEWLINE.search(text[ln.start:ln.end])
        assert ln.kind in LINE_KINDS and (ln.kind == "blank") == (text[ln.start:ln.end].strip() == "")
        m = NEWLINE.match(text, ln.end)
        pos = m.end() if m else ln.end
    assert pos == len(text)
    # sections: ordered, contiguous from the first header to the end, each starting with its header
    secs = layout.sections
    for s in secs:
        assert s.start == s.header_start < s.header_end <= s.end and s.level == 1
    assert all(a.end == b.start for a, b in zip(secs, secs[1:]))
    assert not secs or secs[-1].end == len(text)
    subs = layout.subsections
    for s in subs:
        assert s.start == s.header_start < s.header_end <= s.end <= len(text) and s.role in ROLES
    assert all(a.end <= b.start for a, b in zip(subs, subs[1:]))
    assert layout.breaks == sorted(set(layout.breaks)) and all(0 < b < len(text) for b in layout.breaks)
    for blocks in (layout.items, layout.paragraphs):
        assert all(0 <= b.start < b.end <= len(text) for b in blocks)
        assert all(a.end <= b.start for a, b in zip(blocks, blocks[1:]))
    d = layout.to_dict()
    assert Layout.from_dict(json.loads(json.dumps(d)), len(text)).to_dict() == d


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(notes(), st.lists(st.tuples(st.integers(0, 200), st.integers(1, 30)), max_size=8))
def test_clean_entities_keep_exact_offsets_and_cross_no_break(annotator, text, raw):
    ents = [Entity(s, min(s + n, len(text)), "T033", text[s:min(s + n, len(text))]) for s, n in raw if s < len(text)]
    out = annotator(Document("h", text, ents), clean=True)
    layout = read_layout(text, annotator.vocabulary)
    assert out.metadata["layout"] == layout.to_dict()
    for e in out.entities:
        assert text[e.start:e.end] == e.text and e.start < e.end
        assert any(o.start <= e.start and e.end <= o.end for o in ents)  # pieces of what was found, never more
        assert not layout.breaks_within(e.start, e.end) and not layout.in_header(e.start, e.end)
    kept = annotator(Document("h", text, ents))  # without clean every entity comes back as it was
    assert sorted(e.key() for e in kept.entities) == sorted(e.key() for e in ents)


def _trimmed(text: str, span: str, trim=trim_edge_words) -> list[str]:
    """The texts ``trim`` (``trim_edge_words``) leaves of the first ``span`` in ``text``."""
    i = text.index(span)
    return [e.text for e in trim(text, [Entity(i, i + len(span), "T033", span)])]


def test_degree_adverbs_and_a_sliding_scale_are_edges():
    text = "Abdomen mildly distended. Insulin sliding scale. Markedly elevated lactate."
    trimmed = partial(_trimmed, text)
    assert trimmed("mildly distended") == ["distended"]
    assert trimmed("Insulin sliding scale") == ["Insulin"]
    assert trimmed("Markedly elevated lactate") == ["elevated lactate"]
    assert partial(_trimmed, "Plan: repeat CT in 4 weeks.")("repeat CT") == ["CT"]
    assert partial(_trimmed, "Osteoarthritis of both knees.")("both knees") == ["knees"]
    assert partial(_trimmed, "GI: No nausea/vomiting.")("nausea/") == ["nausea"]  # the slash joins two concepts
    articles = "Findings:\n- A 6 mm polyp. Vitamin A level. A polyp was seen."
    assert [partial(_trimmed, articles[i:])("A") for i in (0, articles.index("Vitamin"), articles.index(". A") + 2)] == [
        [], ["A"], []]  # an article opening a list item or a sentence; vitamin A's letter stays


def test_no_concept_starts_or_ends_with_a_function_word():
    text = "Father - died of a heart attack. Inspection of the skin. History of surgery. Low vitamin A. OR time."

    trimmed = partial(_trimmed, text)

    assert trimmed("died of a") == ["died"]
    assert trimmed("Inspection of the") == ["Inspection"]
    assert trimmed("of surgery") == ["surgery"]
    assert trimmed("of the") == []  # nothing but function words: not a concept
    assert trimmed("-") == [] and trimmed(".") == []  # a bullet or a stop the model tagged alone
    assert trimmed("vitamin A") == ["vitamin A"]  # a capital letter is a name, not an article
    assert trimmed("OR time") == ["OR time"]
    assert trimmed("heart attack") == ["heart attack"]


def test_a_pronoun_or_conjunction_alone_is_not_a_concept():
    """Whole notes: the model tagged "his" (T097), "Her" (T103), "she" (T038) alone, and ran "raising his
    arm over his" past the concept; arsenic's "As" needs its context, which a note rarely gives."""
    text = "Pain when raising his arm over his head. Her INR is high. As noted, she has HER2 disease. IT staff."

    trimmed = partial(_trimmed, text)

    assert trimmed("raising his arm over his") == ["raising his arm"]
    assert trimmed("his") == [] and trimmed("Her") == [] and trimmed("she") == [] and trimmed("As") == []
    assert trimmed("HER2 disease") == ["HER2 disease"]  # a gene name is not a pronoun
    assert partial(_trimmed, "No recent travel. Any fever?")("recent travel") == ["travel"]
    assert partial(_trimmed, "No recent travel. Any fever?")("Any") == []
    assert trimmed("IT staff") == ["IT staff"]


def test_a_death_and_its_cause_are_two_concepts():
    text = "Mother: died of stroke. Father passed away from a brain aneurysm. Died of complications. Dies of dyspnea."

    split = partial(_trimmed, text, trim=split_at_causes)

    assert split("died of stroke") == ["died", "stroke"]
    assert split("passed away from a brain aneurysm") == ["passed away", "a brain aneurysm"]
    assert split("Died of complications") == ["Died", "complications"]
    assert split("died of") == ["died of"]  # nothing after: nothing to split
    assert split("stroke") == ["stroke"]


def test_a_statement_of_normality_is_not_a_concept():
    text = ("ENDOCRINE: Nonsignificant. PSYCH: Normal. Labs within normal limits. Normal sinus rhythm. WNL. "
            "SKIN: None significant. HEME: None. Nonetheless fever.")

    trimmed = partial(_trimmed, text)

    assert trimmed("Nonsignificant") == [] and trimmed("Normal") == [] and trimmed("normal limits") == []
    assert trimmed("WNL") == []
    assert partial(_trimmed, "IMMUNOLOGIC: Negative; Negative for steroids.")("Negative") == []  # an answer
    assert partial(_trimmed, "ENT: Not remarkable. Remarkable for fever.")("remarkable") == []
    assert trimmed("None significant") == [] and trimmed("None") == [] and trimmed("Nonetheless fever") == ["Nonetheless fever"]
    assert trimmed("Normal sinus rhythm") == ["Normal sinus rhythm"]  # a named rhythm


def test_a_verb_that_reports_a_result_is_not_part_of_the_concept():
    text = "Blood cultures grew\nStreptococcus pneumoniae. CT showed a small effusion. MRI revealed nothing."

    trimmed = partial(_trimmed, text)

    assert trimmed("grew\nStreptococcus pneumoniae") == ["Streptococcus pneumoniae"]
    assert trimmed("CT showed") == ["CT"] and trimmed("showed a small effusion") == ["small effusion"]
    assert trimmed("revealed") == []


def test_a_verb_of_a_course_is_not_part_of_the_concept():
    text = "Return if the fever or shortness of breath recurs. Call if pain persists or occurs again."

    trimmed = partial(_trimmed, text)

    assert trimmed("shortness of breath recurs") == ["shortness of breath"]
    assert trimmed("pain persists") == ["pain"] and trimmed("occurs") == ["occurs"]  # alone, a finding ("worsens")


def test_a_tables_column_gap_cuts_an_entity():
    rows = ["Sodium        136      135-145", "Potassium\t4.2", "Chest pain  resolved"]
    text = "LABS:\n" + "\n".join(rows)
    given_ = [Entity(text.index(r), text.index(r) + len(r), "T103", r) for r in rows]
    cut = [e.text for e in split_at_dashes(text, given_)]
    assert cut == ["Sodium", "136", "135-145", "Potassium", "4.2", "Chest pain  resolved"]  # two spaces: one column


def test_a_spaced_dash_splits_and_plan_verbs_are_edges():
    from clinlm.context.concepts import split_at_dashes

    text = "1. CAP - cont ceftriaxone. 2. COPD \u2013 hold metformin. Amoxicillin-clavulanate and A-fib. pan-sensitive."
    pieces = [e.text for e in trim_edge_words(text, split_at_dashes(text, [
        Entity(text.index("CAP"), text.index(". 2"), "T103", "CAP - cont ceftriaxone"),
        Entity(text.index("COPD"), text.index(". Amox"), "T103", "COPD \u2013 hold metformin"),
        Entity(text.index("Amox"), text.index(" and"), "T103", "Amoxicillin-clavulanate"),
        Entity(text.index("A-fib"), text.index(". pan"), "T038", "A-fib"),
        Entity(text.index("pan"), text.index("pan") + 3, "T103", "pan")]))]
    assert pieces == ["CAP", "ceftriaxone", "COPD", "metformin", "Amoxicillin-clavulanate", "A-fib"]
    former = "Former iron worker. Former smoker."
    assert [e.text for e in trim_edge_words(former, [Entity(0, 6, "T098", "Former"),
                                                      Entity(former.index("Former s"), len(former) - 1, "T033",
                                                             "Former smoker")])] == ["smoker"]
    route = "amoxicillin 1 g orally three times daily"
    assert trim_edge_words(route, [Entity(route.index("orally"), route.index(" three"), "T082", "orally")]) == []


def test_prescription_words_are_not_concepts():
    """Medication lists: "PRN", "PO BID", "q4h", "daily", and "p" cut from "p.o." came out as T103."""
    text = "Albuterol inhaler PRN. Metoprolol 25 mg PO BID. Tylenol q4h prn. Aspirin daily. Trizivir p.o. Daily headaches."

    trimmed = partial(_trimmed, text)

    assert trimmed("PRN") == [] and trimmed("PO BID") == [] and trimmed("q4h prn") == [] and trimmed("daily") == []
    assert partial(_trimmed, "Melatonin at bedtime.")("bedtime") == []
    i = text.index("p.o.")
    assert trim_edge_words(text, [Entity(i, i + 1, "T103", "p")]) == []  # "p" cut from "p.o."
    assert trimmed("Albuterol inhaler PRN") == ["Albuterol inhaler"]
    numbers = partial(_trimmed, "Heart rate was reduced to the 70 and BP 120/80. Type 2 diabetes. CD4 count.", trim=trim_values)
    assert numbers("70") == [] and numbers("120/80") == [] and numbers("Type 2") == ["Type 2"] and numbers("CD4") == ["CD4"]
    abstract = partial(_trimmed, "This work led to the discovery of 35, a selective inhibitor.",
                       trim=partial(trim_values, numbers=False))
    assert abstract("35") == ["35"]  # outside a note a number may name a compound (MedMentions: T103)
    hyphen = partial(_trimmed, "She takes K-Dur 10-mEq once a day and 25-mg tablets.", trim=trim_values)
    assert hyphen("K-Dur 10-mEq") == ["K-Dur"] and hyphen("25-mg") == [] and hyphen("K-Dur") == ["K-Dur"]
    units = partial(_trimmed, "Levothyroxine 75 mcg daily. Alesse 20 mcg-0.10 mg tablet. Take 2 tablets. mg of salt.",
                    trim=trim_values)
    assert units("mcg") == [] and units("mg") == [] and units("tablets") == []  # a unit alone after its number
    labs = partial(_trimmed, "Potassium 4.2, creatinine 1.1. Caspase 3. Type 2.", trim=trim_values)
    assert labs("Potassium 4.") == ["Potassium"] and labs("creatinine 1.") == ["creatinine"]  # cut inside a value
    assert labs("Caspase 3.") == ["Caspase 3."] and labs("Type 2") == ["Type 2"]
    assert units("Levothyroxine") == ["Levothyroxine"] and units("tablet") == ["tablet"]  # no number before it
    assert partial(_trimmed, "Serum Mg was low.", trim=trim_values)("Mg") == ["Mg"]  # magnesium, not a milligram
    assert trimmed("Daily headaches") == ["headaches"]
    assert trimmed("Trizivir") == ["Trizivir"]
    ages = partial(_trimmed, "This 51y/o RHF and a 72 yo with CHF; 45 y.o. woman; a 6-yr-old. Toy of the yo-yo.", trim=trim_values)
    assert ages("o") == [] and ages("yo") == [] and ages("y.o.") == [] and ages("6-yr") == []  # pieces of an age
    assert ages("RHF") == ["RHF"] and ages("woman") == ["woman"] and ages("yo-yo") == ["yo-yo"]
    decades = partial(_trimmed, "Father died of heart disease in his 60s; mother in her 80's. Since the 1960s.", trim=trim_values)
    assert decades("60s") == [] and decades("80's") == [] and decades("1960s") == ["1960s"]
    assert partial(_trimmed, "In 51y/o mice.", trim=partial(trim_values, numbers=False))("o") == ["o"]  # abstracts keep theirs


def test_template_words_of_whole_notes_are_not_concepts():
    """MTS-Dialog notes (2026-12-07): "one else" in "No one else is ill", "other" in "no history of other
    neurologic conditions", "known" of "No known drug allergies", "apparent" and "obvious" before a
    finding, "last" of "her last visit", "h/o" at the start of "h/o tobacco", "re" of "re-consulted" and
    the letters of "H&H" came out as concepts or as their edges."""
    text = ("No one else is ill. No history of other neurologic conditions. No known drug allergies. In no apparent "
            "distress, no obvious deformity. Since her last visit. No h/o tobacco/ETOH use. S/p appendectomy. He has "
            "not been re-consulted. H&H stable. Tylenol #3 q6h. Pre-op labs. Vitamin A. Hepatitis A.")

    trimmed = partial(_trimmed, text)

    assert trimmed("one else") == [] and trimmed("other") == [] and trimmed("known") == []
    assert trimmed("other neurologic conditions") == ["neurologic conditions"]
    assert trimmed("known drug allergies") == ["drug allergies"]
    assert trimmed("apparent") == [] and trimmed("obvious deformity") == ["deformity"]
    assert trimmed("last visit") == ["visit"]
    assert partial(_trimmed, "71 y/o RHM with headache.")("o") == []
    assert trimmed("h/o tobacco/ETOH") == ["tobacco/ETOH"] and trimmed("S/p appendectomy") == ["appendectomy"]
    r = text.index("re-consulted")
    assert trim_edge_words(text, [Entity(r, r + 2, "T058", "re")]) == [] and trimmed("Pre") == []
    assert trimmed("re-consulted") == ["re-consulted"]
    h = text.index("H&H")
    assert trim_edge_words(text, [Entity(h, h + 1, "T103", "H"), Entity(h + 2, h + 3, "T103", "H")]) == []
    assert trimmed("H&H") == ["H&H"]
    assert trimmed("Tylenol #") == ["Tylenol #3"] and trimmed("Tylenol #3") == ["Tylenol #3"]
    assert trimmed("Vitamin A") == ["Vitamin A"] and trimmed("Hepatitis A") == ["Hepatitis A"]
    # whole built notes, 2026-12-07: a possessive's apostrophe, "since", a lone "No" (not "NO", nitric oxide)
    more_words = partial(_trimmed, "On another player's foot. Locking and pain since then. No changes in habits. "
                                   "NO synthase. Patients' records.")
    assert more_words("player'") == ["player"] and more_words("Patients'") == ["Patients"]
    assert more_words("pain since") == ["pain"] and more_words("No") == [] and more_words("No changes") == ["changes"]
    assert more_words("NO synthase") == ["NO synthase"] and more_words("NO") == ["NO"]
    dots = partial(_trimmed, "Sepsis, possible SBP.\nSeen by Dr. X on b.i.d. dosing, U.S. trial.")
    assert dots("SBP.") == ["SBP"] and dots("Dr.") == ["Dr."] and dots("U.S.") == ["U.S."]
    more = partial(_trimmed, "1. A D and C. 2. Bone fragment removed. 3. Ovarian cancer staging. Well developed, well "
                             "nourished. Vitamin D and calcium. Grade 3. Hepatitis B and C.")
    assert more("D") == [] and more("3. Ovarian cancer") == ["Ovarian cancer"] and more("well nourished") == ["nourished"]
    adverbs = partial(_trimmed, "Her leg was really swollen. She is somewhat uncomfortable. He cannot walk and easily falls. "
                                "There was no appreciated node. Very low blood pressure.")
    assert adverbs("really swollen") == ["swollen"] and adverbs("somewhat") == [] and adverbs("walk and easily") == ["walk"]
    assert partial(_trimmed, "He bumped his head once. She has no longer been coughing.")("once") == []
    assert partial(_trimmed, "She does not move around much.")("move around much") == ["move around"]
    assert adverbs("appreciated node") == ["node"] and adverbs("Very low blood pressure") == ["low blood pressure"]
    assert partial(_trimmed, "For aspersclerotiorones A and B, the structures")("A") == ["A"]  # compounds
    assert more("Vitamin D") == ["Vitamin D"] and more("Grade 3") == ["Grade 3"] and more("Hepatitis B") == ["Hepatitis B"]


def test_a_hyphenated_compound_keeps_its_function_words():
    text = "Takes over-the-counter analgesics. Needs a check-in. Call if short-of breath."

    trimmed = partial(_trimmed, text)

    assert trimmed("over-the-counter analgesics") == ["over-the-counter analgesics"]
    assert trimmed("check-in") == ["check-in"]
    assert trimmed("if short-of") == ["short-of"]
    assert partial(_trimmed, "Amoxicillin-clavulanate 875 mg.")("Amoxicillin-") == ["Amoxicillin"]
    assert partial(_trimmed, "intra- and extracellular")("intra-") == ["intra-"]  # a coordinated compound


def test_a_dose_or_result_is_not_part_of_the_concept():
    """Whole notes: "Flagyl 500" (of "Flagyl 500 mg"), "Trizivir 1 tablet", "Sodium 133", "BP 138" (of
    138/82) and "lactate 1" (of 1.8) came out as concepts; a name's own number stays."""
    text = ("Flagyl 500 mg tid. Trizivir 1 tablet p.o. Sodium 133, BP 138/82, lactate 1.8. MCV 65. "
            "Caspase 3 activity. Type 1 diabetes. CA 19-9. HbA1c 7.2%. PD-L1 60%. Step 2 of 3.")

    trimmed = partial(_trimmed, text, trim=trim_values)

    assert trimmed("Flagyl 500") == ["Flagyl"]
    assert trimmed("Trizivir 1 tablet") == ["Trizivir"]
    assert trimmed("Sodium 133") == ["Sodium"]
    assert trimmed("BP 138") == ["BP"]
    assert trimmed("lactate 1") == ["lactate"]
    assert trimmed("MCV 65") == ["MCV"]
    assert trimmed("HbA1c 7.2") == ["HbA1c"]
    assert trimmed("PD-L1 60%.") == ["PD-L1"]  # a percentage, and the sentence's stop after it
    assert partial(_trimmed, "Vitals: BP 146/80, HR 92.", trim=trim_values)("BP 146/80") == ["BP"]
    assert partial(_trimmed, "He received 5040 cGy in 28 fractions.", trim=trim_values)("cGy") == []  # a dose's unit
    assert partial(_trimmed, "Creatinine    1.3 (H)  0.6-1.2", trim=trim_values)("H") == []  # a result's flag
    tele = "ED course: Duonebs x3. Former smoker 40 pk-yr. pred 40 mg x 5d."
    assert [partial(_trimmed, tele, trim=trim_values)(x) for x in ("Duonebs x3", "smoker 40 pk-yr", "5d")] == [
        ["Duonebs"], ["smoker"], []]  # a count, pack-years, a course's length
    assert trimmed("Step 2") == ["Step 2"]
    assert trimmed("Caspase 3") == ["Caspase 3"]  # one digit, nothing after it: part of the name
    assert trimmed("Type 1") == ["Type 1"]
    assert trimmed("CA 19-9") == ["CA 19-9"]  # ends in "-9", not a value
    assert trimmed("Flagyl") == ["Flagyl"]
    assert trimmed("500 mg") == [] and trimmed("1.8") == []  # a measurement or a number alone


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(["Flagyl", "1", "500", "1.8", "mg", "tablet", "/", "type", "%", "  ", "-"]),
                min_size=1, max_size=6))
def test_value_trimming_keeps_exact_offsets_and_empties_only_a_measurement(words):
    text = "Takes " + " ".join(words) + " daily."
    start, end = 6, 6 + len(" ".join(words))
    out = trim_values(text, [Entity(start, end, "T103", text[start:end])])
    if not out:
        span = text[start:end]
        assert not any(c.isalpha() for c in span) or (span[0].isdigit() and span[-1] not in "0123456789 -/")
        return
    (e,) = out
    assert text[e.start:e.end] == e.text and e.start == start and start < e.end <= end


def test_a_family_member_alone_is_not_a_concept(annotator):
    text = "FAMILY HISTORY:\nMother had breast cancer. Paternal grandfather: stroke.\n"
    ents = [Entity(text.index(t), text.index(t) + len(t), "T038", t) for t in ("Mother had", "breast cancer",
                                                                              "Paternal grandfather", "stroke")]
    out = annotator(Document("f", text, ents), clean=True)
    assert [(e.text, e.attributes["assertion"]) for e in out.entities] == [
        ("breast cancer", "associated_with_someone_else"), ("stroke", "associated_with_someone_else")]


def test_an_entity_that_starts_with_a_relative_starts_after_it(annotator):
    text = "FAMILY HISTORY:\nMother with breast cancer. His mother died of a stroke.\n"
    ents = [Entity(text.index(t), text.index(t) + len(t), "T038", t) for t in ("Mother with breast cancer",
                                                                              "mother died of a stroke")]
    out = annotator(Document("f", text, ents), clean=True)
    assert [e.text for e in out.entities] == ["breast cancer", "died", "stroke"]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(["of", "the", "The", "a", "A", "pain", "chest", "OR", "and", "x-ray", ",", "  ",
                                 "recurs", "other", "h/o", "re", "&"]),
                min_size=1, max_size=8))
def test_edge_word_trimming_keeps_exact_offsets_inside_the_entity(words):
    text = "Seen: " + " ".join(words) + " today."
    start, end = 6, 6 + len(" ".join(words))
    out = trim_edge_words(text, [Entity(start, end, "T033", text[start:end])])
    for e in out:
        assert text[e.start:e.end] == e.text and start <= e.start < e.end <= end
        inner = [w for w in e.text.split() if any(c.isalnum() for c in w)]
        assert not inner or (inner[0] not in EDGE_WORDS | {"h/o"} and inner[-1] not in EDGE_WORDS | {"h/o"})
        assert len(inner) == 1 or inner[-1] not in COURSE_WORDS  # a verb of a course ends no longer entity
    content = [w for w in words if any(c.isalnum() for c in w) and w not in EDGE_WORDS and w != "h/o"
               and not (w[0].isupper() and w[1:].islower() and w.lower() in EDGE_WORDS)]
    # an article alone that opens the sentence ("Seen: A today") is no concept either
    kept = content[:-1] if len(content) > 1 and content[-1] in COURSE_WORDS else content  # "A recurs" -> "A"
    lone_article = (kept in (["A"], ["The"])
                    and all(not w.strip() for w in words[:words.index(kept[0])]))
    assert len(out) == (1 if content and not lone_article else 0)  # no content word (or a bullet "-"): no concept


# -- assertion in whole notes --------------------------------------------------------------------
def test_a_whole_note(annotator):
    terms = ["Chest pain", "chest pain", "chest pain", "dyspnea", "barre classes", "Hypertension", "breast cancer",
             "myocardial infarction", "palpitations", "syncope", "cough", "depression", "nausea", "Regular rate",
             "murmurs", "Lungs", "clear", "Abdomen", "soft", "edema", "Depression", "Hypertension", "chest pain"]
    out = annotator(doc_with(NOTE, terms))
    got = [(e.text, e.attributes["section"], e.attributes["assertion"]) for e in out.entities]
    assert got == [
        ("Chest pain", "chief_complaint", "present"),
        ("chest pain", "history_of_present_illness", "present"),
        ("chest pain", "history_of_present_illness", "absent"),
        ("dyspnea", "history_of_present_illness", "absent"),  # negation wins over "on exertion"
        ("barre classes", "history_of_present_illness", "present"),  # "his wife got him into ..." is not family
        ("Hypertension", "past_medical_history", "present"),
        ("breast cancer", "family_history", "associated_with_someone_else"),
        ("myocardial infarction", "family_history", "associated_with_someone_else"),
        ("palpitations", "review_of_systems", "absent"),
        ("syncope", "review_of_systems", "absent"),
        ("cough", "review_of_systems", "present"),  # the "Denies" of the line above stops at its line
        ("depression", "review_of_systems", "present"),
        ("nausea", "review_of_systems", "present"),
        ("Regular rate", "physical_exam", "present"),
        ("murmurs", "physical_exam", "absent"),
        ("Lungs", "physical_exam", "present"),
        ("clear", "physical_exam", "present"),
        ("Abdomen", "physical_exam", "present"),
        ("soft", "physical_exam", "present"),
        ("edema", "physical_exam", "absent"),  # ": no" after "Extremities:" does not hide "No"
        ("Depression", "observation_and_plan", "present"),
        ("Hypertension", "observation_and_plan", "present"),
        ("chest pain", "patient_instructions", "hypothetical"),
    ]
    dyspnea = out.entities[3].attributes
    assert dyspnea["negated"] is True and dyspnea["conditional"] is True  # the flags stay; the label says absent


@pytest.mark.parametrize("text,target,family", [
    ("Paternal grandfather: myocardial infarction", "myocardial infarction", True),  # no family history header
    ("Mother - colon cancer", "colon cancer", True),
    ("His wife got him into barre classes.", "barre classes", False),
    ("His wife has the flu.", "flu", True),
    ("Her husband has noticed that she snores.", "snores", False),
    ("Her mother's diabetes is well controlled.", "diabetes", True),
    ("Mother and father have no asthma.", "asthma", True),
    ("Daughter drove her to the visit for her cough.", "cough", False),
    # the relative reports, with words between the verb and "reported" (a held-out note, mts_heldout_05)
    ("The mother has also reported irregular breathing.", "irregular breathing", False),
    ("Her husband had just noticed that she snores.", "snores", False),
    ("His son has been helping him with his medications.", "medications", False),  # held-out hand_07
    ("His son has been diagnosed with asthma.", "asthma", True),
    ("Mother has also had breast cancer.", "breast cancer", True),
    # a clause about the patient after one about a relative
    ("The brother is also sick with a cold, and the patient has had no diarrhea.", "diarrhea", False),
    ("The brother is also sick with a cold, and the patient has had no diarrhea.", "cold", True),
    ("Brother had a stroke; pt denies headache.", "headache", False),
    ("The mother of the patient has diabetes.", "diabetes", True),
])
def test_relatives_outside_family_history(annotator, text, target, family):
    assert _by_text(annotator(doc_with(text, [target])))[target]["family"] is family


@pytest.mark.parametrize("text,target,assertion", [
    ("Denies fever. Endorses fatigue.", "fatigue", "present"),
    ("Denies fever, reports fatigue.", "fatigue", "present"),
    ("No nausea, admits to vomiting.", "vomiting", "present"),
    ("Negative for fever, positive chills.", "chills", "present"),
    ("Return if she reports chest pain.", "chest pain", "hypothetical"),  # only negation ends at "reports"
    ("MSK: Negative myalgia, negative joint pain.", "joint pain", "absent"),
])
def test_affirming_cues_end_a_negation_only(annotator, text, target, assertion):
    assert _by_text(annotator(doc_with(text, [target])))[target]["assertion"] == assertion


# -- what is not a concept -------------------------------------------------------------------------
def test_clean_drops_headers_cue_words_and_names_and_splits_at_items(annotator):
    text = ("Patient: Donna Torres\nDOB: 01/02/1960\n\nPAST HISTORY\nHypertension\n\nREVIEW OF SYSTEMS\n"
            "- Psychiatric: Endorses depression. Denies anxiety.\nX-ray: No fracture.\nMrs. Torres was seen by Dr. Kumar.")
    terms = [("Donna Torres\nDOB", None), ("HISTORY\nHypertension", None), ("REVIEW", None), ("Psychiatric", None),
             ("Endorses", None), ("depression", None), ("Denies", None), ("anxiety", None), ("No fracture", None),
             ("Mrs. Torres", None), ("Dr. Kumar", None), ("Torres", 2)]
    d = Document("n", text)
    for term, nth in terms:
        start = -1
        for _ in range(nth or 1):
            start = text.index(term, start + 1)
        d.add(start, start + len(term), "T033")
    out = annotator(d, clean=True)
    assert [(e.text, e.attributes["assertion"]) for e in out.entities] == [
        ("Hypertension", "present"), ("depression", "present"), ("anxiety", "absent"), ("fracture", "absent")]
    assert out.entities[0].attributes["section"] == "past_medical_history"
    assert out.metadata["layout"]["sections"][0]["category"] == "past_medical_history"
    assert [e.text for e in annotator(d).entities] == [e.text for e in d.entities]  # clean=False changes nothing


def test_names_from_titles_and_name_lines():
    text = "Patient: Torres, Donna\nAttending: John Smith, MD\nDonna was seen by Doctor Kumar and Dr. X. Ms. Lee called."
    layout = read_layout(text)
    got = [text[a:b] for a, b in name_spans(text, layout, default_annotator().vocabulary)]
    assert got == ["Torres, Donna", "John Smith, MD", "Donna", "Doctor Kumar", "Dr. X", "Ms. Lee"]


def test_a_placeholder_name_is_a_name_and_an_entity_starting_with_a_name_starts_after_it():
    """De-identified notes write "Dr. XYZ": it came out as T097/T007, and "Dr. XYZ's clinic" as T092."""
    text = "Seen by Dr. XYZ. Follow up in Dr. XYZ's clinic in a week. Dr. Smith. Then Dr. J. Smith. HIV is negative."
    layout = read_layout(text)
    names = name_spans(text, layout, default_annotator().vocabulary)
    # a full stop ends a name unless it follows an initial
    assert [text[a:b] for a, b in names] == ["Dr. XYZ", "Dr. XYZ's", "Dr. Smith", "Dr. J. Smith"]
    ents = [Entity(text.index(t), text.index(t) + len(t), "T092", t) for t in ("Dr. XYZ", "Dr. XYZ's clinic", "HIV")]
    ents[1] = Entity(text.index("Dr. XYZ's"), text.index("clinic") + 6, "T092", "Dr. XYZ's clinic")
    assert [e.text for e in drop_names(text, ents, names)] == ["clinic", "HIV"]


def test_split_keeps_an_entity_that_crosses_nothing():
    text = "type 2 diabetes mellitus,\nchronic kidney disease"
    e = Entity(0, len(text), "T038", text)
    assert split_at_breaks(text, [e], read_layout(text)) == [e]


# -- rules -------------------------------------------------------------------------------------------
def test_user_section_rules_with_a_regular_expression(tmp_path):
    rules = tmp_path / "s.json"
    rules.write_text(json.dumps({"section_rules": [{"literal": "Genetics", "category": "genetics",
                                                     "pattern": "genetic (testing|results)"}]}), encoding="utf-8")
    a = ContextAnnotator(section_rules=rules)
    text = "GENETIC TESTING\nBRCA1 mutation.\nGenetics: none."
    assert [s.category for s in a.layout(text).sections] == ["genetics", "genetics"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"section_rules": [{"literal": "X", "category": "x", "pattern": "(unclosed"}]}),
                   encoding="utf-8")
    with pytest.raises(InputError, match=r"section rule 0 \('X'\) cannot be used") as info:
        ContextAnnotator(section_rules=bad).layout("x")
    assert str(bad) in str(info.value)


def test_the_layout_goes_into_jsonl_and_the_html_view(annotator, tmp_path):
    from clinlm.formats import jsonl, write_documents

    out = annotator(doc_with(NOTE, ["breast cancer", "palpitations"]))
    back = jsonl.loads(jsonl.dumps([out]))[0]
    assert back == out and back.layout == out.metadata["layout"]
    assert back.layout["sections"][3] == {"start": NOTE.index("[FAMILY"), "end": NOTE.index("REVIEW OF"),
                                          "name": "FAMILY HISTORY", "category": "family_history",
                                          "header": {"start": NOTE.index("[FAMILY"),
                                                     "end": NOTE.index("[FAMILY") + len("[FAMILY HISTORY]")}}
    page = tmp_path / "p.html"
    write_documents([out], page, "html")
    html = page.read_text(encoding="utf-8")
    assert html.count('<section class="clinlm-section"') == 9  # the lines before the first header, 8 sections
    assert "family_history &middot; FAMILY HISTORY" in html and '<b title="relative">Mother:</b>' in html
    assert 'class="clinlm-line subheader" style="padding-left: 1.6em' in html  # "- Cardiovascular:" is a list item
    assert "Biologic Function FAM" in html or "Finding FAM" in html


def test_a_sections_abbreviated_name_used_inline_is_not_a_concept(annotator):
    text = ("REVIEW OF SYSTEMS:\nGI: Nausea. All other systems negative unless mentioned in HPI; see PMH.\n"
            "ASSESSMENT:\nRule out PE. Obtain MRI.\n")
    ents = [Entity(text.index(t), text.index(t) + len(t), "T033", t) for t in ("Nausea", "HPI", "PMH", "PE", "MRI")]
    out = annotator(Document("r", text, ents), clean=True)
    # HPI and PMH point at sections; PE (pulmonary embolism) and MRI also name concepts and stay
    assert [e.text for e in out.entities] == ["Nausea", "PE", "MRI"]
    assert [e.text for e in annotator(Document("r", text, ents)).entities] == ["Nausea", "HPI", "PMH", "PE", "MRI"]
    # without sections (an abstract), ROS is reactive oxygen species
    abstract = "Hypoxia raised ROS in the cells."
    ros = Entity(abstract.index("ROS"), abstract.index("ROS") + 3, "T103", "ROS")
    assert [e.text for e in annotator(Document("a", abstract, [ros]), clean=True).entities] == ["ROS"]


def test_open_breaks_are_line_starts_after_a_line_without_punctuation():
    from clinlm.context.layout import open_breaks

    text = ("PAST SURGICAL HISTORY\nCholecystectomy\nRight hip replacement\n\nMEDICATIONS:\n- Apixaban 5 mg\n"
            "- Tiotropium inhaler\nLungs: clear. No edema.\nHe was admitted with fever, cough and a long line that\n"
            "wraps onto the next one.\n")
    layout = read_layout(text)
    got = open_breaks(text, layout)
    assert text.index("Cholecystectomy") in got and text.index("Right hip") in got  # after a header, between items
    assert text.index("- Tiotropium") in got  # a bulleted item after one that ends with a word
    assert text.index("MEDICATIONS") in got  # a header after an item without punctuation (blank line between)
    assert text.index("- Apixaban") not in got  # after "MEDICATIONS:": the colon marks it
    assert text.index("Apixaban") not in got and text.index("clear") not in got  # breaks inside a line
    assert text.index("wraps") not in got  # a wrapped line continues its sentence
    assert set(got) <= set(layout.breaks)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=10), st.sampled_from(BREAKS))
def test_open_breaks_follow_a_line_break_and_an_unpunctuated_line(lines, br):
    from clinlm.context.layout import open_breaks

    text = br.join(lines)
    for b in open_breaks(text, read_layout(text)):
        before = text[:b].rstrip()
        assert before and before[-1] not in ".!?;:," and NEWLINE.search(text[len(before):b])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["CAP", "-", "\u2013", "cont", "A-fib", "x", " ", "  ", "\t", ",", "HTN"]), max_size=14))
def test_dash_pieces_are_exact_slices_inside_their_entity_and_cross_no_spaced_dash(parts):
    from clinlm.context.concepts import _SPACED_DASH, split_at_dashes

    text = " ".join(parts)
    if not text.strip():
        return
    e = Entity(0, len(text), "T033", text)
    out = split_at_dashes(text, [e])
    if out == [e]:  # nothing to cut: the entity as it was
        assert not any(e.start < m.start() and m.end() < e.end for m in _SPACED_DASH.finditer(text))
    for p in out:
        assert text[p.start:p.end] == p.text and 0 <= p.start < p.end <= len(text)
        assert not any(p.start < m.start() and m.end() < p.end for m in _SPACED_DASH.finditer(text))
        assert p is e or p.text == p.text.strip()


def test_soap_letters_are_headers_but_a_pulse_is_not():
    soap = "S: Feels better.\nO: Afebrile, lungs clear.\nA: CAP, improving.\nP: Continue antibiotics."
    assert [(s.name, s.category) for s in read_layout(soap).sections] == [
        ("S", "history_of_present_illness"), ("O", "physical_exam"), ("A", "observation_and_plan"),
        ("P", "observation_and_plan")]
    assert read_layout("BP 120/80\nP: 84\nRR: 18").sections == []  # a vital sign, not the plan


def test_a_listed_problem_before_a_colon_in_a_problem_list_is_no_subheader():
    text = ("HOSPITAL COURSE:\n1. Pneumonia: treated.\n4. COPD: No wheezing.\n"
            "REVIEW OF SYSTEMS:\nHEENT: No headache.\nPHYSICAL EXAM:\nCOPD: clear.\n")
    names = [s.name for s in read_layout(text).subsections]
    assert names == ["HEENT", "COPD"]  # the hospital course's COPD is a problem; elsewhere the rule stands


def test_an_entity_is_cut_where_a_sentence_ends_inside_it():
    from clinlm.context.concepts import split_at_sentence_ends

    text = "Continue strict I/O. Echo ordered. Seen by Dr. Smith. E. Coli grew. Heparin SC."
    cut = partial(_trimmed, text, trim=split_at_sentence_ends)
    assert cut("strict I/O. Echo") == ["strict I/O", "Echo"]
    assert cut("Dr. Smith") == ["Dr. Smith"] and cut("E. Coli") == ["E. Coli"]  # a title, an initial
    assert cut("Echo ordered.") == ["Echo ordered."]  # a period at the end cuts nothing


def test_a_count_after_a_test_or_a_dose_is_no_concept():
    text = "Troponin negative x2. Ceftriaxone x 3 days. Factor X 12."
    counts = partial(_trimmed, text, trim=trim_values)
    assert counts("x2") == [] and counts("x 3") == []
    assert partial(_trimmed, text, trim=partial(trim_values, numbers=False))("x2") == ["x2"]  # abstracts keep theirs


def test_a_drugs_salt_or_release_form_joins_its_name():
    from clinlm.context.concepts import join_salts

    text = "Metoprolol succinate 25 mg. Toprol XL daily. Sodium was low. Aspirin Potassium 4.1."
    ents = [Entity(0, 10, "T103", "Metoprolol"), Entity(11, 20, "T103", "succinate"), Entity(28, 34, "T103", "Toprol"),
            Entity(46, 52, "T103", "Sodium"), Entity(62, 69, "T033", "Aspirin")]
    assert [e.text for e in join_salts(text, ents)] == ["Metoprolol succinate", "Toprol XL", "Sodium", "Aspirin"]


def test_a_drugs_overdose_or_level_is_one_concept_of_its_own_type():
    from clinlm.context.concepts import join_salts

    text = "After an acetaminophen overdose. Lithium level 1.2. Aspirin toxicity. Heparin drip."
    ents = [Entity(9, 22, "T103", "acetaminophen"), Entity(23, 31, "T038", "overdose"), Entity(33, 40, "T103", "Lithium"),
            Entity(52, 59, "T103", "Aspirin"), Entity(70, 77, "T103", "Heparin")]
    got = [(e.text, e.label) for e in join_salts(text, ents)]
    assert got == [("acetaminophen overdose", "T037"), ("Lithium level", "T058"), ("Aspirin toxicity", "T037"),
                   ("Heparin", "T103")]


def test_a_problem_is_cut_at_and_or_and_its_last_piece_joins_the_next_entity():
    from clinlm.context.concepts import split_at_coordinators

    text = "Shortness of breath and productive cough. Nausea or vomiting. Ear, Nose and Throat clinic."
    ents = [Entity(0, 34, "T033", text[0:34]), Entity(35, 40, "T033", "cough"), Entity(42, 60, "T033", text[42:60]),
            Entity(62, 82, "T091", text[62:82])]
    assert [(e.text, e.label) for e in split_at_coordinators(text, ents)] == [
        ("Shortness of breath", "T033"), ("productive cough", "T033"), ("Nausea", "T033"), ("vomiting", "T033"),
        ("Ear, Nose and Throat", "T091")]  # not a problem: left whole


def test_a_medication_lists_lone_names_are_drugs_where_the_model_drew_none():
    text = "4. MEDICATIONS\n1. Lipitor\n2. Eliquis\n3. None\n4. Aspirin 81 mg\n5. Zyrtec.\nPLAN:\n1. Eliquis\n"
    lipitor = Entity(text.index("Lipitor"), text.index("Lipitor") + 7, "T058", "Lipitor")
    out = add_listed_drugs(text, [lipitor], read_layout(text))
    assert [(e.text, e.label) for e in out] == [("Lipitor", "T058"), ("Eliquis", "T103"), ("Zyrtec", "T103")]
    assert all(text[e.start:e.end] == e.text for e in out)
    # a numbered header is no drug, "None" says there are none, "Aspirin 81 mg" is more than a name, the
    # plan's item is no medication list


def test_a_name_right_before_a_dose_is_a_drug_where_the_model_drew_none():
    text = "Lokelma 10 g TID. Take 2 tablets daily. Protein 60 g daily. Aspirin 81 mg. Weight 80 kg."
    aspirin = Entity(text.index("Aspirin"), text.index("Aspirin") + 7, "T103", "Aspirin")
    out = add_dosed_drugs(text, [aspirin])
    assert [(e.text, e.label) for e in out] == [("Lokelma", "T103"), ("Aspirin", "T103")]
    assert all(text[e.start:e.end] == e.text for e in out)


def test_a_conditional_lead_line_makes_its_list_hypothetical(annotator):
    text = ("PLAN:\nReturn to the ED if she develops:\n- fever\n- chest pain\nContinue:\n- aspirin\n"
            "Symptoms today:\n- cough\n")
    got = {(e.text, e.attributes["assertion"]) for e in annotator(doc_with(text, ["fever", "chest pain", "aspirin",
                                                                                    "cough"])).entities}
    assert got == {("fever", "hypothetical"), ("chest pain", "hypothetical"), ("aspirin", "present"),
                   ("cough", "present")}


def test_two_adjectives_sharing_a_noun_are_one_entity():
    from clinlm.context.concepts import join_coordinated_modifiers

    text = "No cervical or supraclavicular lymphadenopathy. Denies auditory or visual hallucinations. Fever or chills."
    ents = [Entity(15, 46, "T033", "supraclavicular lymphadenopathy"), Entity(55, 63, "T038", "auditory"),
            Entity(67, 88, "T038", "visual hallucinations"), Entity(90, 95, "T033", "Fever"), Entity(99, 105, "T033", "chills")]
    got = [(e.text, e.label) for e in join_coordinated_modifiers(text, ents)]
    assert got == [("cervical or supraclavicular lymphadenopathy", "T033"), ("auditory or visual hallucinations", "T038"),
                   ("Fever", "T033"), ("chills", "T033")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(["auditory", "or", "and", "visual", "hallucinations", "pain", "renal", "\n", "cervical",
                                 "nodes", "-"]), min_size=1, max_size=14), st.data())
def test_joined_modifiers_keep_offsets_and_never_overlap(words, data):
    from clinlm.context.concepts import join_coordinated_modifiers

    text = " ".join(words)
    starts = [i for i in range(len(text)) if (i == 0 or text[i - 1] == " ") and text[i] != " "]
    spans, last = [], -1
    for a in sorted(data.draw(st.sets(st.sampled_from(starts), max_size=5)) if starts else []):
        if a <= last:
            continue
        b = text.find(" ", a)
        b = len(text) if b < 0 else b
        if data.draw(st.booleans()):  # two words
            c = text.find(" ", b + 1)
            b = len(text) if c < 0 and b < len(text) else (c if c > 0 else b)
        spans.append((a, b))
        last = b
    ents = [Entity(a, b, "T033", text[a:b]) for a, b in spans]
    out = join_coordinated_modifiers(text, ents)
    assert all(e.text == text[e.start:e.end] for e in out)
    assert all(x.end <= y.start for x, y in zip(out, out[1:]))
    assert len(out) <= len(ents) and {e.end for e in out} <= {e.end for e in ents}


def test_a_size_before_a_device_or_a_finding_is_cut_off_in_notes_only():
    text = "A 12-mm trocar and a 2 cm nodule. Type 2 diabetes."
    ents = [Entity(2, 14, "T074", "12-mm trocar"), Entity(21, 32, "T033", "2 cm nodule"), Entity(34, 49, "T038", "Type 2 diabetes")]
    assert [e.text for e in trim_values(text, ents)] == ["trocar", "nodule", "Type 2 diabetes"]
    assert [e.text for e in trim_values(text, ents, numbers=False)] == ["12-mm trocar", "2 cm nodule", "Type 2 diabetes"]


def test_an_organ_joins_a_disease_after_it_but_not_another_part_of_the_body():
    from clinlm.context.concepts import join_coordinated_modifiers

    text = "No breast or ovarian cancer. Skin and subcutaneous tissues intact."
    ents = [Entity(3, 9, "T017", "breast"), Entity(13, 27, "T038", "ovarian cancer"), Entity(29, 33, "T022", "Skin"),
            Entity(38, 58, "T017", "subcutaneous tissues")]
    got = [(e.text, e.label) for e in join_coordinated_modifiers(text, ents)]
    assert got == [("breast or ovarian cancer", "T038"), ("Skin", "T022"), ("subcutaneous tissues", "T017")]
