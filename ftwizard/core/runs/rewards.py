"""What scores an online-RL run's completions, made concrete at launch.

``rl.reward_model_run`` names a finished reward-model run; ``FILE.py:FUNCTION`` entries
name the person's own code. Both are resolved once, before training, to absolute paths
(the trainer runs in its own process and folder), and a launch says first that it will
run the person's code, as it does for ``trust_remote_code``.
"""

from __future__ import annotations

from pathlib import Path

from ftwizard.core.config.choices import ONLINE_RL
from ftwizard.core.config.rl import OWN_REWARD
from ftwizard.core.config.schema import RunConfig
from ftwizard.core.errors import UserError
from ftwizard.core.runs.folder import RunFolder, find_run, runs_root


def reward_model_source(config: RunConfig) -> RunFolder | None:
    """The finished reward-model run ``rl.reward_model_run`` names, or None."""
    name = config.rl.reward_model_run
    if not name:
        return None
    run = find_run(name, runs_root(config))
    state = run.read_status().state
    objective = run.read_config().method.objective
    if objective != "reward":
        raise UserError(
            f"rl.reward_model_run: run {run.name} trained {objective}, not a reward model.",
            hint="Train one with method.objective: reward on preference pairs, and name it.",
        )
    if state != "finished" or not run.final_dir.is_dir():
        raise UserError(
            f"rl.reward_model_run: run {run.name} has no finished result (state: {state}).",
            hint=f"Finish it first (`ftwizard resume {run.name}`).",
        )
    return run


def _absolute_entry(entry: str) -> str:
    match = OWN_REWARD.fullmatch(entry)
    if match is None:
        return entry
    path = Path(match["file"]).expanduser().resolve()
    if not path.is_file():
        raise UserError(
            f"rl.reward_funcs: {entry}: no such file {path}.",
            hint="Give the Python file's path, relative to where you launch or absolute.",
        )
    return f"{path}:{match['function']}"


def with_rewards(config: RunConfig) -> tuple[RunConfig, tuple[str, ...]]:
    """The configuration with its reward sources as absolute paths, and the lines said
    before training (the person's code that will run, the reward model used)."""
    objectives = {config.method.objective, *(stage.objective for stage in config.stages)}
    if not objectives & set(ONLINE_RL):  # a GRPO stage reads the run's rl section
        return config, ()
    rl = config.rl
    funcs = [_absolute_entry(entry) for entry in rl.reward_funcs]
    source = reward_model_source(config)
    model = str(source.path.resolve()) if source is not None else None
    resolved = config.with_sections(rl={"reward_funcs": funcs, "reward_model_run": model})
    notes = [note for note in (resolved.rl.code_warning(),) if note]
    if source is not None:
        notes.append(f"reward model: run {source.name} scores every completion")
    if not resolved.rl.scorers():
        raise UserError(
            "online RL needs something to score its completions.",
            hint="Set rl.reward_funcs (answer, format, length or FILE.py:FUNCTION) or "
            "rl.reward_model_run.",
        )
    return resolved, tuple(notes)
