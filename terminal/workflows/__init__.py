"""The two terminal workflows of issue 5, as a Python API for POS and kiosk software.

- :func:`terminal.workflows.pharmacy.pharmacy`: a designated pharmacy's purchase (card-profile
  §6, §12, §2 DF04): read, check, PIN, medical area code.
- :func:`terminal.workflows.activation.activate`: a bank kiosk's activation (§6, §9): read and
  check, match the holder, set the bank PIN through the bank host, change the initial social
  security PIN.

Both take a :class:`terminal.session.CardSession` the caller opened (and releases, whatever
happens) and a :class:`terminal.pinsource.PinSource`; from the front door they are
``card.pharmacy(...)`` and ``card.activate(...)`` (``with terminal.open_card(...) as card``).
Both start with the one read-and-check (:func:`terminal.inspect.read_checked`), so a card fails
the same checks here as in ``sscard check``.  Both refuse with typed errors
(:class:`WorkflowRefused` and the card's own status errors); none retries a PIN.
"""

from __future__ import annotations

from apdu.errors import PolicyError


class WorkflowRefused(PolicyError):
    """The terminal stopped a workflow on purpose (a failed check, a holder mismatch, ...).

    Exit code 1 like every refusal; the message says why, never a PIN.
    """


class CheckFailed(WorkflowRefused):
    """A card check failed: the sale or activation stops with the failing checks as its reason."""

    def __init__(self, failures: list[tuple[str, str]]) -> None:
        self.failures = failures
        reasons = "; ".join(f"{name}: {detail}" for name, detail in failures)
        super().__init__(f"card check failed ({reasons})")


__all__ = ["CheckFailed", "WorkflowRefused"]
