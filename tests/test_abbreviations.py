"""Clinical abbreviations a note leaves undefined: typed, added, pieces replaced, routes dropped."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinlm.context.abbreviations import SOURCE, TERM_SOURCE, apply_abbreviations, load_abbreviations
from clinlm.context.layout import read_layout
from clinlm.document import Entity
from clinlm.errors import ConfigError

ABBR = load_abbreviations()


def ent(text: str, piece: str, label: str = "T103", at: int = 0) -> Entity:
    start = -1
    for _ in range(at + 1):
        start = text.index(piece, start + 1)
    return Entity(start, start + len(piece), label, piece, 0.9)


def spans(text: str, entities) -> list[tuple[str, str]]:
    return [(text[e.start:e.end], e.label) for e in entities]


def test_exact_entities_take_the_listed_type_and_keep_their_score():
    text = "PMH: HTN, DM2, A-fib. Denies SOB."
    out = apply_abbreviations(text, [ent(text, "HTN"), ent(text, "DM2", "T017"), ent(text, "A-fib"), ent(text, "SOB", "T038")], ABBR)
    assert spans(text, out) == [("HTN", "T038"), ("DM2", "T038"), ("A-fib", "T038"), ("SOB", "T033")]
    assert all(e.score == 0.9 and SOURCE not in e.attributes.values() for e in out)


def test_missing_ones_are_added_and_pieces_replaced_but_longer_spans_stand():
    text = "CAD s/p CABG. Reports N/V. CHF exacerbation. No LE edema."
    given_ = [ent(text, "N"), ent(text, "CHF exacerbation", "T038"), ent(text, "LE edema", "T033")]
    out = apply_abbreviations(text, given_, ABBR)
    assert spans(text, out) == [("CAD", "T038"), ("CABG", "T058"), ("N/V", "T033"), ("CHF exacerbation", "T038"),
                                ("LE edema", "T033")]
    added = [e for e in out if e.attributes.get("source") == SOURCE]
    assert [e.text for e in added] == ["CAD", "CABG", "N/V"] and all(e.score is None for e in added)


def test_routes_are_dropped_plurals_match_and_words_do_not():
    text = "Start IV lasix. Two TIAs. MIRA trial. DMARD. IVC filter."
    out = apply_abbreviations(text, [ent(text, "IV"), ent(text, "lasix"), ent(text, "IVC", "T017")], ABBR)
    assert spans(text, out) == [("lasix", "T103"), ("TIAs", "T038"), ("IVC", "T017")]
    text = "Treated with intravenous ceftriaxone. History of intravenous drug abuse."
    out = apply_abbreviations(text, [ent(text, "intravenous", "T082"), ent(text, "intravenous drug abuse", "T038")], ABBR)
    assert spans(text, out) == [("intravenous drug abuse", "T038")]  # the route alone goes, the concept stays


def test_a_defined_abbreviation_and_a_not_before_word_are_left_alone():
    text = "Cerebral palsy (CP) since birth; CP is stable. No CVA tenderness. ASA class II. ASA 81 mg."
    out = apply_abbreviations(text, [ent(text, "CP", "T038", at=1), ent(text, "CVA", "T017")], ABBR, kinds="abbreviations")
    assert spans(text, out) == [("CP", "T038"), ("CVA", "T017"), ("ASA", "T103")]  # only "ASA 81 mg" is aspirin
    assert out[-1].start == text.index("ASA 81")
    # the costovertebral angle's tenderness is a listed term, a finding (not a stroke)
    assert ("CVA tenderness", "T033") in spans(text, apply_abbreviations(text, out, ABBR, kinds="terms"))


def test_definitions_are_told_from_parentheses_that_define_nothing():
    from clinlm.context.abbreviations import _defined

    assert _defined("Cerebral palsy (CP) since birth.", "CP") and _defined("CP (chest pain) for 2 days.", "CP")
    assert not _defined("admitted w/ CAP (RLL), improving.", "CAP") and not _defined("admitted w/ CAP (RLL).", "RLL")
    assert not _defined("HTN (controlled) and DM.", "HTN") and not _defined("HTN, DM.", "HTN")
    text = "A/P: admitted w/ CAP (RLL), improving."
    assert spans(text, apply_abbreviations(text, [], ABBR)) == [("CAP", "T038"), ("RLL", "T017")]


def test_a_problem_based_plan_is_cut_at_its_dashes_before_typing():
    text = "PLAN:\n1. CAP - cont ceftriaxone.\n2. HTN - cont lisinopril."
    out = apply_abbreviations(text, [ent(text, "CAP - cont"), ent(text, "HTN - cont lisinopril")], ABBR, read_layout(text))
    assert spans(text, out) == [("CAP", "T038"), ("cont", "T103"), ("HTN", "T038"), ("cont lisinopril", "T103")]


def test_entities_are_cut_at_the_layout_first():
    text = "A/P: CHF, stable."
    out = apply_abbreviations(text, [ent(text, "P: CHF", "T033")], ABBR, read_layout(text))
    assert ("CHF", "T038") in spans(text, out)


def test_only_models_with_the_listed_types_use_them(tmp_path):
    assert ABBR.usable_with([f"{p}-{t}" for t in ("T038", "T033", "T058", "T103", "T082", "T017", "T074", "T201", "T007", "T005", "T031", "T170", "T037", "T091", "T097")
                              for p in "BI"])
    assert not ABBR.usable_with(["O", "B-problem", "I-problem", "B-test", "I-test"])
    bad = tmp_path / "a.json"
    bad.write_text(json.dumps({"abbreviations": [{"abbreviation": "X"}]}))
    with pytest.raises(ConfigError, match="a.json"):
        load_abbreviations(bad)


WORDS = ["HTN", "CAD", "N/V", "IV", "TIAs", "CVA", "tenderness", "pain", "(CP)", "CP", "the", "A-fib", "LE", "edema",
         "DM2", "\n", ".", ",", "MIRA", "strokes", "Stroke", "volume", "heart", "failure", "congestive", "rigors", "cancer",
         "past", "sputum"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=25), st.data())
def test_offsets_stay_exact_and_no_entities_overlap(words, data):
    text = " ".join(words)
    entities, pos = [], 0
    for w in words:  # some words as the model's entities
        start = text.index(w, pos)
        pos = start + len(w)
        if w.strip(".,\n") and data.draw(st.booleans()):
            entities.append(Entity(start, pos, "T033", w, 0.5))
    out = apply_abbreviations(text, entities, ABBR)
    for e in out:
        assert text[e.start:e.end] == e.text and e.start < e.end
    ordered = sorted(out, key=lambda e: e.start)
    assert all(a.end <= b.start for a, b in zip(ordered, ordered[1:]))
    matches = [(a, b) for a, b, *_ in ABBR.find(text)]
    far = [e for e in entities if not any(a < e.end and e.start < b for a, b in matches)]
    assert {(e.start, e.end, e.label) for e in far} <= {(e.start, e.end, e.label) for e in out}


def test_abbreviated_phrases_win_over_their_pieces():
    text = "Ext: trace b/l LE edema. CV: no m/r/g. Abd: NT/ND. DVT ppx with heparin."
    given_ = [ent(text, "trace", "T033"), ent(text, "LE", "T082"), ent(text, "edema", "T033"), ent(text, "g"),
              ent(text, "NT/", "T033"), ent(text, "ND", "T033"), ent(text, "DVT", "T038"), ent(text, "heparin")]
    out = apply_abbreviations(text, given_, ABBR)
    assert spans(text, out) == [("trace", "T033"), ("LE edema", "T033"), ("m/r/g", "T033"), ("NT/ND", "T033"),
                                ("DVT ppx", "T058"), ("heparin", "T103")]


def test_letters_after_a_drug_name_and_written_out_orders():
    text = "Recently finished Minocin and Duraphen II DM. History of DM. CODE STATUS: Do not resuscitate. Heparin SQ."
    given_ = [ent(text, "Duraphen"), ent(text, "DM", "T103"), ent(text, "Do", "T058"), ent(text, "resuscitate", "T058"),
              ent(text, "Heparin"), ent(text, "SQ")]
    out = apply_abbreviations(text, given_, ABBR)
    assert spans(text, out) == [("Duraphen", "T103"), ("DM", "T103"), ("DM", "T038"), ("Do not resuscitate", "T058"),
                                ("Heparin", "T103")]  # a route after a drug still goes
    text = "PMH: HTN DM CAD s/p CABG."  # the model's T103 on "HTN" and on "p" of "s/p" makes no product name
    out = apply_abbreviations(text, [ent(text, "HTN"), ent(text, "p")], ABBR)
    assert [(t, l) for t, l in spans(text, out) if t != "p"] == [("HTN", "T038"), ("DM", "T038"), ("CAD", "T038"),
                                                                 ("CABG", "T058")]


def test_an_organ_before_ca_is_a_cancer():
    text = "FAMILY HISTORY: HTN, Colon CA, and breast CA. Serum Ca 9.1; CA 19-9 pending."
    out = apply_abbreviations(text, [ent(text, "Colon", "T017"), ent(text, "CA", "T082")], ABBR)
    assert spans(text, out) == [("HTN", "T038"), ("Colon CA", "T038"), ("breast CA", "T038"),
                                ("Ca", "T103")]  # calcium with its value; "CA 19-9" left alone


def test_a_labs_letters_count_only_with_its_value():
    text = "LABS: Na 138, K 4.1, Cr: 1.1, Hgb 10.9. Vitamin K given. Mg was not checked."
    out = apply_abbreviations(text, [ent(text, "Vitamin K")], ABBR)
    assert spans(text, out) == [("Na", "T103"), ("K", "T103"), ("Cr", "T103"), ("Hgb", "T103"), ("Vitamin K", "T103")]


def test_the_cleaning_step_applies_them_in_notes_only_even_to_a_note_without_entities():
    from clinlm.context import default_annotator
    from clinlm.document import Document

    annotator = default_annotator()
    note = Document("n", "PAST MEDICAL HISTORY:\nHTN, CAD s/p CABG.\n")
    found = next(annotator.pipe([note], clean=True, abbreviations=ABBR))
    assert [(e.text, e.label, e.attributes["section"]) for e in found.entities] == [
        ("HTN", "T038", "past_medical_history"), ("CAD", "T038", "past_medical_history"),
        ("CABG", "T058", "past_medical_history")]
    sentence = Document("s", "Patients with HTN and CAD were enrolled.")  # no sections: nothing added
    assert next(annotator.pipe([sentence], clean=True, abbreviations=ABBR)).entities == []
    assert next(annotator.pipe([note], clean=True)).entities == []  # without them: the entities it was given


def test_a_notes_layout_is_read_once_and_the_kept_layouts_are_bounded():
    from clinlm.context import ContextAnnotator
    from clinlm.context.annotator import LAYOUTS_KEPT

    annotator = ContextAnnotator()
    text = "PLAN:\nRest.\n"
    assert annotator.layout(text) is annotator.layout(text)
    for i in range(LAYOUTS_KEPT + 5):
        annotator.layout(f"NOTE {i}:\nRest.\n")
    assert len(annotator._layouts) == LAYOUTS_KEPT and annotator.layout(text).sections[0].category == "observation_and_plan"


def test_clinical_terms_take_their_type_in_any_case_and_plural():
    text = "REVIEW OF SYSTEMS:\nNo strokes, Hyperlipidemia or sputum. Allergies reviewed."
    given_ = [ent(text, "strokes", "T033"), ent(text, "Hyperlipidemia", "T033"), ent(text, "sputum", "T017"),
              ent(text, "Allergies", "T033")]
    out = apply_abbreviations(text, given_, ABBR)
    assert spans(text, out) == [("strokes", "T038"), ("Hyperlipidemia", "T038"), ("sputum", "T031"), ("Allergies", "T038")]
    assert all(e.score == 0.9 for e in out)


def test_only_terms_marked_add_become_entities_the_model_did_not_draw():
    text = "ROS: Fever and rigors. No cancer. Congestive heart\nfailure. congestive heart failure."
    given_ = [ent(text, "Fever", "T033"), ent(text, "congestive", "T033", at=0), ent(text, "heart failure", "T038")]
    out = apply_abbreviations(text, given_, ABBR)
    assert spans(text, out) == [("Fever", "T033"), ("rigors", "T033"), ("congestive heart failure", "T038")]
    assert [e.attributes.get("source") for e in out] == [None, TERM_SOURCE, TERM_SOURCE]  # "cancer": type only
    # "Congestive heart\nfailure" crosses a line: two items of a list, not the term


def test_a_term_replaces_a_piece_of_it_that_runs_on_only_into_a_result():
    text = "EXAM:\nHomans sign negative. Urine drug screen positive for cannabinoids. Stroke scale done."
    given_ = [ent(text, "Homans", "T033"), ent(text, "sign negative", "T033"), ent(text, "Urine", "T031"),
              ent(text, "drug screen positive", "T033"), ent(text, "Stroke scale", "T170")]
    out = apply_abbreviations(text, given_, ABBR)
    assert spans(text, out) == [("Homans sign", "T033"), ("Urine drug screen", "T058"), ("Stroke scale", "T170")]


def test_a_longer_span_and_a_not_before_word_leave_a_term_alone():
    text = "Heat stroke last summer. Stroke volume was low. Stroke in 2019."
    given_ = [ent(text, "Heat stroke", "T037"), ent(text, "Stroke volume", "T201"), ent(text, "Stroke", "T033", at=1)]
    out = apply_abbreviations(text, given_, ABBR)
    assert spans(text, out) == [("Heat stroke", "T037"), ("Stroke volume", "T201"), ("Stroke", "T038")]


def test_kinds_choose_abbreviations_or_terms_and_cleaning_types_terms_after_edge_words():
    text = "PMH: HTN. No past pneumonias."
    given_ = [ent(text, "HTN", "T103"), ent(text, "pneumonias", "T033")]
    assert spans(text, apply_abbreviations(text, given_, ABBR, kinds="abbreviations")) == [("HTN", "T038"), ("pneumonias", "T033")]
    assert spans(text, apply_abbreviations(text, given_, ABBR, kinds="terms")) == [("HTN", "T103"), ("pneumonias", "T038")]
    from clinlm.context import default_annotator
    from clinlm.document import Document

    note = Document("n", "REVIEW OF SYSTEMS:\nRESPIRATORY: No past pneumonias.\n")
    model_drew = [ent(note.text, "past pneumonias", "T033")]  # the edge word goes first, then the term is typed
    found = next(default_annotator().pipe([Document("n", note.text, model_drew)], clean=True, abbreviations=ABBR))
    assert [(e.text, e.label, e.attributes["assertion"]) for e in found.entities] == [("pneumonias", "T038", "absent")]


def test_a_term_listed_as_an_abbreviation_too_is_refused(tmp_path):
    terms = tmp_path / "t.json"
    terms.write_text(json.dumps({"terms": [{"term": "htn", "type": "T038"}]}))
    abbr = tmp_path / "a.json"
    abbr.write_text(json.dumps({"abbreviations": [{"abbreviation": "htn", "type": "T038"}]}))
    with pytest.raises(ConfigError, match="t.json"):
        load_abbreviations(abbr, terms)
    terms.write_text(json.dumps({"terms": [{"term": "stroke"}]}))
    with pytest.raises(ConfigError, match="t.json"):
        load_abbreviations(terms=terms)


def test_retype_changes_only_the_type_of_entities_that_are_exactly_one():
    text = "Negative EKG. Knee brace and backboard. No rigors."
    given_ = [Entity(text.index("EKG"), text.index("EKG") + 3, "T033", "EKG", 0.4, {"assertion": "absent"}),
              ent(text, "Knee brace", "T017"), ent(text, "backboard", "T082")]
    out = apply_abbreviations(text, given_, ABBR, kinds="retype")
    assert spans(text, out) == [("EKG", "T058"), ("Knee brace", "T074"), ("backboard", "T074")]  # "rigors" not added
    assert out[0].attributes == {"assertion": "absent"} and out[0].score == 0.4
    text = "CV: negative palpations. Abdomen soft on palpation."
    out = apply_abbreviations(text, [ent(text, "palpations", "T033"), ent(text, "palpation", "T033", at=1)], ABBR)
    assert spans(text, out) == [("palpations", "T033"), ("palpation", "T058")]  # a misspelt symptom, an exam


def test_the_annotator_retypes_what_contexts_cue_words_hid():
    from clinlm.context import default_annotator
    from clinlm.document import Document

    text = "IMPRESSION:\n1. Negative EKG.\n"
    found = next(default_annotator().pipe([Document("n", text, [ent(text, "Negative EKG", "T033")])], clean=True,
                                          abbreviations=ABBR))
    assert [(e.text, e.label, e.attributes["assertion"]) for e in found.entities] == [("EKG", "T058", "absent")]


def test_shapes_type_procedures_imaging_and_devices_by_their_form():
    text = "L5 kyphoplasty. Right hemicolectomy. MRI brain. Back brace. Topography. Collar bone. Stent thrombosis."
    given_ = [ent(text, "L5 kyphoplasty", "T037"), ent(text, "Right hemicolectomy", "T038"), ent(text, "MRI brain", "T017"),
              ent(text, "Back brace", "T017"), ent(text, "Topography", "T082"), ent(text, "Collar bone", "T017"),
              ent(text, "Stent thrombosis", "T038")]
    out = apply_abbreviations(text, given_, ABBR, kinds="retype")
    assert [e.label for e in out] == ["T058", "T058", "T058", "T074", "T082", "T017", "T038"]
    assert apply_abbreviations(text, given_, ABBR, kinds="abbreviations") == given_  # the first pass leaves shapes


def test_a_shape_that_is_no_regular_expression_is_refused(tmp_path):
    terms = tmp_path / "t.json"
    terms.write_text(json.dumps({"terms": [], "shapes": [{"pattern": "(brace", "type": "T074"}]}))
    with pytest.raises(ConfigError, match="t.json"):
        load_abbreviations(terms=terms)


def test_route_terms_drop_the_entity_and_its_pieces_and_cultures_are_procedures():
    text = "MEDICATIONS:\nAmoxicillin 1 g by mouth three times daily. Tiotropium 18 mcg inhaled daily. Sputum culture grew S. aureus."
    given_ = [ent(text, "Amoxicillin"), ent(text, "mouth", "T017"), ent(text, "inhaled", "T038"), ent(text, "Sputum culture", "T038")]
    out = apply_abbreviations(text, given_, ABBR, kinds="terms")
    assert spans(text, out) == [("Amoxicillin", "T103"), ("Sputum culture", "T058")]


def test_the_longer_of_an_abbreviation_and_a_term_wins():
    text = "RUQ pain. Sputum cx pending. sputum cx NGTD. RUQ tender. The appendix."
    found = [(text[a:b], term) for a, b, _, term, _ in ABBR.find(text)]
    assert found == [("RUQ pain", True), ("Sputum cx", False), ("sputum cx", False), ("RUQ", False), ("appendix", True)]


def test_a_name_right_before_a_dose_is_a_drug():
    text = "Nexium 40 mg daily. Insulin glargine 20 units qHS. Weight 80 kg. Sodium 2 g diet. Nexium helps."
    given_ = [ent(text, "Nexium", "T038"), ent(text, "Insulin glargine", "T058"), ent(text, "Weight", "T201"),
              ent(text, "Sodium", "T168"), ent(text, "Nexium", "T038", at=1)]
    out = apply_abbreviations(text, given_, ABBR, kinds="retype")
    assert [e.label for e in out] == ["T103", "T103", "T201", "T168", "T038"]


def test_a_bacteriums_genus_and_species_are_a_bacterium_but_not_the_disease_it_names():
    text = "Blood cultures grew Streptococcus\npneumoniae. Klebsiella pneumonia treated. E. coli UTI."
    given_ = [ent(text, "Streptococcus\npneumoniae", "T038"), ent(text, "Klebsiella pneumonia", "T038"), ent(text, "E. coli", "T038")]
    out = apply_abbreviations(text, given_, ABBR, kinds="retype")
    assert [e.label for e in out] == ["T007", "T038", "T007"]


def test_vital_signs_count_only_with_their_value_and_icu_devices_and_stains_are_added():
    text = ("Vitals: BP 98/56, SpO2 94% on 4 L nasal cannula. BP was discussed.\n"
            "Blood cultures: gram-negative rods. No rebound or guarding. Decreased appetite.")
    given_ = [ent(text, "gram-negative", "T038"), ent(text, "rods", "T017"), ent(text, "Decreased", "T033"),
              ent(text, "appetite", "T033")]
    out = apply_abbreviations(text, given_, ABBR)
    assert spans(text, out) == [("BP", "T038"), ("SpO2", "T038"), ("nasal cannula", "T074"), ("gram-negative rods", "T007"),
                                ("rebound", "T033"), ("guarding", "T033"), ("Decreased appetite", "T033")]


def test_rebound_of_a_drug_withdrawal_is_no_exam_finding():
    text = "Rebound hypertension after clonidine was stopped."
    assert spans(text, apply_abbreviations(text, [], ABBR)) == [("hypertension", "T038")]  # a listed term, not "Rebound"


def test_what_an_examiner_hears_is_a_sign_and_injuries_are_injuries():
    text = "Lungs: scattered dry crackles. Heart: S3 gallop, no murmurs. Skin: abrasion and contusions of the knee."
    given_ = [ent(text, "dry crackles", "T082"), ent(text, "S3 gallop", "T103"), ent(text, "murmurs", "T033"),
              ent(text, "abrasion", "T038"), ent(text, "contusions", "T033"), ent(text, "knee", "T017")]
    out = apply_abbreviations(text, given_, ABBR, kinds="retype")
    assert [e.label for e in out] == ["T033", "T033", "T033", "T037", "T037", "T017"]


def test_a_social_historys_alcohol_and_walker_and_a_consulting_discipline():
    text = "SOCIAL HISTORY: Walks with a walker. No alcohol.\nPLAN: Orthopedics consulted. Skin tear: wound care."
    given_ = [ent(text, "Orthopedics", "T082"), ent(text, "Skin tear", "T033")]
    out = apply_abbreviations(text, given_, ABBR)
    assert spans(text, out) == [("walker", "T074"), ("alcohol", "T103"), ("Orthopedics", "T091"), ("Skin tear", "T037")]


def test_no_term_is_added_inside_a_header():
    text = "COLONOSCOPY REPORT\n\nIndications: Screening colonoscopy.\n"
    out = apply_abbreviations(text, [], ABBR, layout=read_layout(text))
    assert [(e.start, e.text) for e in out] == [(text.rindex("colonoscopy"), "colonoscopy")]


def test_a_profession_is_known_by_its_ending():
    text = "He was treated by a chiropractor, then a local neurosurgeon. Physical therapist visits. Wrist pain."
    given_ = [ent(text, "chiropractor", "T103"), ent(text, "neurosurgeon", "T058"), ent(text, "Physical therapist", "T058"),
              ent(text, "Wrist pain", "T033")]
    out = apply_abbreviations(text, given_, ABBR, kinds="retype")
    assert [e.label for e in out] == ["T097", "T097", "T097", "T033"]


def test_vaccines_written_short_are_vaccines():
    text = "IMMUNIZATIONS: Due today: MMR, PCV13. Tdap given. DTaP #4."
    given_ = [ent(text, "MMR", "T038"), ent(text, "PCV13", "T005")]
    out = apply_abbreviations(text, given_, ABBR)
    assert spans(text, out) == [("MMR", "T103"), ("PCV13", "T103"), ("Tdap", "T103"), ("DTaP", "T103")]


def test_retyping_drops_an_entity_listed_as_no_concept():
    text = "HPI: no CP. Pt reports b/l LE swelling. s/p R TKA 2019."
    given_ = [ent(text, "Pt", "T058"), ent(text, "TKA", "T017")]
    out = apply_abbreviations(text, given_, ABBR, kinds="retype")
    assert spans(text, out) == [("TKA", "T058")]  # "Pt" (the patient) is gone, LE swelling was not drawn
