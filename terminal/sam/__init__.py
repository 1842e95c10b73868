"""Security modules (SAM): software with the TEST keys, or a PSAM card (card-profile §7, §11)."""
