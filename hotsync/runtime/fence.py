"""Fencing (placeholder while being written)."""


def check_push_command(root) -> int:
    return 1


def record_push_generation_command(root) -> int:
    return 0
