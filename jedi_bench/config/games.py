"""The 26 Atari100k games, and the one place that checks a game name."""

ATARI100K_GAMES: tuple[str, ...] = (
    "Alien",
    "Amidar",
    "Assault",
    "Asterix",
    "BankHeist",
    "BattleZone",
    "Boxing",
    "Breakout",
    "ChopperCommand",
    "CrazyClimber",
    "DemonAttack",
    "Freeway",
    "Frostbite",
    "Gopher",
    "Hero",
    "Jamesbond",
    "Kangaroo",
    "Krull",
    "KungFuMaster",
    "MsPacman",
    "Pong",
    "PrivateEye",
    "Qbert",
    "RoadRunner",
    "Seaquest",
    "UpNDown",
)

# Small built-in environments with the same interface as the Atari env (for tests and learning checks).
TEST_GAMES: tuple[str, ...] = ("Catch",)


def check_game(name: str, allow_test_games: bool = True) -> str:
    """Return ``name`` if it is a known game, else raise a ValueError that lists the valid names."""
    known = ATARI100K_GAMES + (TEST_GAMES if allow_test_games else ())
    if name in known:
        return name
    extra = f" (or the built-in test env{'s' if len(TEST_GAMES) > 1 else ''}: {', '.join(TEST_GAMES)})"
    raise ValueError(
        f"unknown game {name!r}. The 26 Atari100k games are: {', '.join(ATARI100K_GAMES)}"
        + (extra if allow_test_games else "")
    )
