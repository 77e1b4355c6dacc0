"""Zero-shot multiple choice (MMLU, MedConceptsQA): ``data`` (readers), ``scoring`` (option likelihoods), ``commands``."""
