"""Whole visit notes built from MTS-Dialog's note sections, for benchmarks/whole_notes.py.

    python3 benchmarks/whole_notes_build.py [--shared ../shared/data/mts_dialog] [--out /tmp/clinlm_whole_notes]

MTS-Dialog (``../shared/data/mts_dialog``, CC BY 4.0) holds 1,701 note sections written by
clinicians (``section_header``: GENHX, PASTMEDICALHX, FAM/SOCHX, ROS, EXAM, ASSESSMENT, PLAN,
MEDICATIONS, ...), each a section of a different visit. A note here strings sections together
in the order clinicians write them (chief complaint, history of present illness, past
history, medications, allergies, family and social history, review of systems, exam,
results, assessment, plan, disposition), each under a header written one of the ways notes
write them: in capitals on its own line with or without a colon, bracketed, numbered, or
"Name: text" on one line. Review-of-systems and exam sections join several sections that
start with a system ("PSYCHIATRIC: Normal; ...", "LUNGS: ...") one per line, with or without
bullets. Some notes start with the patient's name and date of birth.

Nothing is copied into the repository: the notes are written under ``--out`` (``dev`` from
MTS-Dialog's training set, ``heldout`` from its validation and test sets) and rebuilt the same
way every time (seeded). Beside each ``NAME.txt`` a ``NAME.json`` holds what is true by
construction: each section's span and expected category, the header spans and the
sub-header spans (the system names at the start of review-of-systems/exam lines).
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "mts_dialog"
OUT = Path("/tmp/clinlm_whole_notes")

#: MTS section -> (header names a note may use, the category clinlm should give it)
SECTIONS = {
    "CC": (["CHIEF COMPLAINT", "Chief Complaint", "REASON FOR VISIT"], "chief_complaint"),
    "GENHX": (["HISTORY OF PRESENT ILLNESS", "HPI", "History of Present Illness"], "history_of_present_illness"),
    "PASTMEDICALHX": (["PAST MEDICAL HISTORY", "PAST HISTORY", "Past Medical History", "PMH"], "past_medical_history"),
    "PASTSURGICAL": (["PAST SURGICAL HISTORY", "SURGICAL HISTORY", "Past Surgical History"], "past_medical_history"),
    "MEDICATIONS": (["MEDICATIONS", "CURRENT MEDICATIONS", "Medications"], "medications"),
    "ALLERGY": (["ALLERGIES", "Allergies"], "allergy"),
    "FAM": (["FAMILY HISTORY", "Family History", "FAMILY HX"], "family_history"),
    "SOC": (["SOCIAL HISTORY", "Social History"], "social_history"),
    "ROS": (["REVIEW OF SYSTEMS", "ROS", "Review of Systems"], "review_of_systems"),
    "EXAM": (["PHYSICAL EXAMINATION", "PHYSICAL EXAM", "Physical Exam", "EXAM"], "physical_exam"),
    "LABS": (["RESULTS", "LABS", "LABORATORY DATA"], "labs_and_studies"),
    "IMAGING": (["IMAGING", "RADIOLOGY"], "imaging"),
    "ASSESSMENT": (["ASSESSMENT", "IMPRESSION", "Assessment"], "observation_and_plan"),
    "PLAN": (["PLAN", "Plan"], "observation_and_plan"),
    "DIAGNOSIS": (["DIAGNOSIS", "DIAGNOSES"], "diagnoses"),
    "DISPOSITION": (["DISPOSITION"], "observation_and_plan"),
    "EDCOURSE": (["ED COURSE", "EMERGENCY DEPARTMENT COURSE"], "hospital_course"),
}
#: The order of a note; (MTS section, chance it is there)
ORDER = [("CC", 0.9), ("GENHX", 1.0), ("PASTMEDICALHX", 0.8), ("PASTSURGICAL", 0.4), ("MEDICATIONS", 0.6),
         ("ALLERGY", 0.6), ("FAM", 0.8), ("SOC", 0.6), ("ROS", 0.9), ("EXAM", 0.9), ("LABS", 0.2),
         ("IMAGING", 0.15), ("EDCOURSE", 0.1), ("ASSESSMENT", 0.8), ("DIAGNOSIS", 0.15), ("PLAN", 0.6),
         ("DISPOSITION", 0.2)]
STYLES = ("caps", "caps_colon", "inline", "bracket", "numbered")
RELATIVES = re.compile(r"\b(mother|father|mom|dad|brother|sister|sibling|aunt|uncle|grand(?:mother|father|parent)s?"
                       r"|parents|son|daughter|cousin|family)\b", re.I)
SOCIAL = re.compile(r"\b(smok|alcohol|drink|tobacco|married|lives|works|drug|retired|employ)", re.I)
SYSTEM_LINE = re.compile(r"^([A-Z][A-Z /&,]{1,30}):+")
PATIENTS = ["Donna Torres", "James Miller", "Maria Gonzalez", "Robert Chen", "Linda Okafor", "Michael Brennan",
            "Susan Patel", "David Kowalski", "Karen Nguyen", "Thomas Reyes"]


def read_sections(shared: Path, files: list[str]) -> dict[str, list[str]]:
    by: dict[str, list[str]] = {}
    for name in files:
        with open(shared / name, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                text = re.sub(r"[ \t]+\n", "\n", row["section_text"].strip())
                if not text:
                    continue
                head = row["section_header"]
                if head == "FAM/SOCHX":
                    head = "FAM" if RELATIVES.search(text) else ("SOC" if SOCIAL.search(text) else "")
                if head in SECTIONS:
                    by.setdefault(head, []).append(text)
    return by


def build_note(rng: random.Random, by: dict[str, list[str]], name: str) -> tuple[str, dict]:
    style = rng.choice(STYLES)
    blank = rng.random() < 0.7  # a blank line between sections
    parts: list[str] = []
    truth: dict = {"name": name, "style": style, "sections": [], "headers": [], "subheaders": []}
    pos = 0

    def add(s: str) -> tuple[int, int]:
        nonlocal pos
        parts.append(s)
        start = pos
        pos += len(s)
        return start, pos

    if rng.random() < 0.5:
        patient = rng.choice(PATIENTS)
        add(f"Patient: {patient}\nDOB: {rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/{rng.randint(1930, 2005)}\n")
        truth["subheaders"] += [[0, 8], [len(f"Patient: {patient}\n"), len(f"Patient: {patient}\n") + 4]]
        truth["patient"] = patient
        if blank:
            add("\n")
    number = 0
    for key, chance in ORDER:
        if rng.random() > chance or not by.get(key):
            continue
        names, category = SECTIONS[key]
        header = rng.choice(names)
        section_style = "bracket" if key == "FAM" and rng.random() < 0.5 else style
        number += 1
        if key in ("ROS", "EXAM"):
            pool = [t for t in by[key] if SYSTEM_LINE.match(t) and "\n" not in t]
            lines = rng.sample(pool, min(len(pool), rng.randint(2, 5))) if pool and rng.random() < 0.75 else \
                [rng.choice(by[key])]
            bullet = rng.choice(["", "", "- ", "\u2022 "]) if len(lines) > 1 else ""
            body_lines = [bullet + ln for ln in lines]
        else:
            body_lines = [rng.choice(by[key])]
        start = pos
        if section_style == "inline" and len(body_lines) == 1:
            hs, he = add(f"{header}: ")
            truth["headers"].append([hs, he - 1])
            body_start = pos
            add(body_lines[0] + "\n")
        else:
            text = {"caps": header.upper(), "caps_colon": header.upper() + ":", "inline": header + ":",
                    "bracket": f"[{header.upper()}]", "numbered": f"{number}. {header.upper()}"}[section_style]
            hs, he = add(text + "\n")
            truth["headers"].append([hs, he - 1])
            body_start = pos
            for ln in body_lines:
                ls, _ = add(ln + "\n")
                m = SYSTEM_LINE.match(ln[len(ln) - len(ln.lstrip("-\u2022 ")):])
                if m and len(body_lines) > 1:
                    off = len(ln) - len(ln.lstrip("-\u2022 "))
                    truth["subheaders"].append([ls, ls + off + m.end()])
        end = pos
        if blank:
            add("\n")
        truth["sections"].append({"key": key, "category": category, "header": header, "start": start, "end": end,
                                  "body_start": body_start})
    return "".join(parts), truth


def build(shared: Path = SHARED, out: Path = OUT, n_dev: int = 40, n_heldout: int = 40) -> Path:
    sets = {"dev": (["MTS-Dialog-TrainingSet.csv"], n_dev, 17),
            "heldout": (["MTS-Dialog-ValidationSet.csv", "MTS-Dialog-TestSet-1-MEDIQA-Chat-2023.csv",
                         "MTS-Dialog-TestSet-2-MEDIQA-Sum-2023.csv"], n_heldout, 1717)}
    for part, (files, n, seed) in sets.items():
        by = read_sections(shared, files)
        rng = random.Random(seed)
        folder = out / part
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            name = f"mts_{part}_{i:02d}"
            text, truth = build_note(rng, by, name)
            (folder / f"{name}.txt").write_text(text, encoding="utf-8")
            (folder / f"{name}.json").write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    out = build(args.shared, args.out)
    print(f"wrote {sum(1 for _ in out.rglob('*.txt'))} notes under {out}")


if __name__ == "__main__":
    main()
