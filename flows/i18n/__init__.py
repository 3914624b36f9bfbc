"""The shop's languages: which one a shopper reads, and the system's own sentences in each."""
