"""Security and reliability proof: attack corpus, fault matrix, fuzzing, memory bounds."""
