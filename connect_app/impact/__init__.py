"""Impact analysis: which customers each issue hurts, how badly, and each customer's issue health."""
