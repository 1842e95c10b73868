"""What a terminal does with a social security card: read, check, PINs, SAM, workflows, CLI."""
