"""How often a sampled reply breaks GRPO's extension property with the embedded model's own chat template.

For the first learner prompt of a few training instances per game, samples replies at GRPO's training
temperature (1.0), then renders the next turn as the rollout would (the reply's text as an assistant message,
then a game-master message) and checks that its prompt tokens start with the sampled turn's prompt and reply
tokens (``tokens_from_turns``). A reply that does not is a trajectory cut at that turn (``rollout/cut``).
Prints the rate per game, the mismatching replies' causes, and ends with a JSON line.

Usage: python benchmarks/bench_token_extension.py [samples per prompt] [max_tokens]
"""

import json
import sys
import time

from playpen.games import get_game
from playpen.models.base import GenerationRequest, GenerationSettings
from playpen.models.huggingface import HuggingFaceModel
from playpen.rollout.planner import select_rows
from playpen.train.conversation import Turn, tokens_from_turns

GAMES = ("taboo", "wordle", "referencegame", "imagegame", "privateshared")
NEXT = {"role": "user", "content": "Next turn."}


def cause(text_before_strip: str, text: str) -> str:
    return "whitespace stripped" if text_before_strip != text else "re-tokenised differently"


if __name__ == "__main__":
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    max_tokens = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    model = HuggingFaceModel(None, settings=GenerationSettings(1.0, max_tokens), seed=0, keep_prompt_tokens=True)
    report, started = {}, time.perf_counter()
    for game in GAMES:
        spec = get_game(game)
        requests = []
        for row in select_rows(spec, split="train")[:2]:
            master = spec.new_episode(row.experiment, row.instance)
            requests += [GenerationRequest(messages=master.messages_for(master.current_role))] * samples
        results = model.generate(requests)
        cut, causes = 0, {}
        for request, result in zip(requests, results):
            after = model.render(list(request.messages) + [{"role": "assistant", "content": result.text}, NEXT])
            following = Turn(model.tokenizer(after, add_special_tokens=False)["input_ids"], [])
            tokens = tokens_from_turns([Turn(result.prompt_token_ids, result.token_ids), following])
            if tokens.cut_at_turn is not None:
                cut += 1
                stops = set(model._stop_ids)
                raw = model.tokenizer.decode([t for t in result.token_ids if t not in stops], skip_special_tokens=True)
                key = f"{tokens.cut_reason}: {cause(raw, result.text)}"
                causes[key] = causes.get(key, 0) + 1
        report[game] = {"replies": len(results), "cut": cut, "causes": causes}
        print(f"{game:15} {cut:3}/{len(results)} replies would cut the trajectory  {causes}", flush=True)
    total = sum(r["replies"] for r in report.values())
    cuts = sum(r["cut"] for r in report.values())
    print(json.dumps({"replies": total, "cut": cuts, "rate": round(cuts / total, 3), "per_game": report,
                      "seconds": round(time.perf_counter() - started, 1), "max_tokens": max_tokens}))
