"""`endpointctl gc` on Docker: environment images nothing needs go; the rest stay, each with its reason.

Run against the real engine with small labelled images built FROM the offline base image (no RUN step, so a
build takes a moment). Other tests may build images at the same time: every tagged image that exists before
the collection is declared needed, except the test's own disposable one, and anything younger than
`min_idle_s` is kept anyway, so a collection here removes no other test's image.
"""

from __future__ import annotations

import io
import time
import uuid

from docker import DockerClient

from endpointctl.backends.docker.cleanup import collect_images
from endpointctl.backends.engine import labels
from tests.backends.docker.conftest import BASE_IMAGE

MIN_IDLE_S = 2.0


def _build(engine: DockerClient, tag: str) -> str:
    dockerfile = f"FROM {BASE_IMAGE}\n" + "".join(
        f'LABEL "{k}"="{v}"\n' for k, v in labels.ours(env_digest=uuid.uuid4().hex).items()
    )
    image, _ = engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    return str(image.id)


def _all_tags(engine: DockerClient) -> dict[str, str]:
    return {
        tag: "another test"
        for image in engine.images.list(filters=labels.selector(labels.ours()))
        for tag in image.tags
    }


def test_only_the_image_nothing_needs_goes(engine: DockerClient) -> None:
    run = uuid.uuid4().hex[:8]
    disposable, needed, in_container = (
        f"endpointctl-gc-test/{n}:{run}" for n in ("unused", "needed", "used")
    )
    for tag in (disposable, needed, in_container):
        _build(engine, tag)
    container = engine.containers.create(in_container, command=["true"])
    try:
        time.sleep(MIN_IDLE_S + 1)  # all three are now older than min_idle_s
        others = {t: who for t, who in _all_tags(engine).items() if t != disposable}
        others[needed] = "my-endpoint/blue rev 2"
        others.pop(in_container)

        freed, kept = collect_images(engine, others, min_idle_s=MIN_IDLE_S, dry_run=True)
        assert disposable in {i.name for i in freed}
        assert engine.images.list(name=disposable), "a dry run removed the image"

        recent_freed, recent_kept = collect_images(engine, others, min_idle_s=3600, dry_run=True)
        assert disposable not in {i.name for i in recent_freed}
        assert next(i for i in recent_kept if i.name == disposable).why.startswith("built ")

        freed, kept = collect_images(engine, others, min_idle_s=MIN_IDLE_S)
        # (An untagged image of ours that no container uses would go too: it is garbage by any measure.)
        assert disposable in {i.name for i in freed} and not {i.name for i in freed} & set(others)
        assert not engine.images.list(name=disposable)
        why = {i.name: i.why for i in kept}
        assert why[needed] == "used by my-endpoint/blue rev 2"
        assert why[in_container] == "a container was created from it"
        assert all(i.size_bytes > 0 for i in kept if i.name in (needed, in_container))
    finally:
        container.remove(force=True)
        for tag in (disposable, needed, in_container):
            if engine.images.list(name=tag):
                engine.images.remove(tag, force=True)
