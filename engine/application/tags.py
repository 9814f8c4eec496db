"""TagResource, UntagResource, ListTagsForResource: a pipeline's tags, each change an event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from domain.errors import PipelineNotFoundException, ResourceNotFoundException
from domain.pipeline import Pipeline
from domain.tags import check_tag_keys, check_tags, merged_tags, tag_list
from engine.application.base import ConveyorBase


class TagCommands(ConveyorBase):
    """A pipeline's tags. The tag API names an unknown pipeline ResourceNotFoundException."""

    def tag_resource(self, name: str, tags: Sequence[Mapping[str, Any]], *, by: str) -> bool:
        """Add or overwrite tags; False when every tag already had its value (nothing recorded)."""
        merged_tags({}, check_tags(tags))  # bad input is refused before the lookup

        def attempt() -> bool:
            now = self.clock.now()
            pipeline = self._tagged_pipeline(name)
            changed = pipeline.tag(tags, by=by, now=now)
            if changed:
                self.save(pipeline)
            return changed

        return self._transact(attempt)

    def untag_resource(self, name: str, keys: Sequence[Any], *, by: str) -> bool:
        """Remove tags by key; keys the pipeline lacks are ignored (False: nothing recorded)."""
        check_tag_keys(keys)

        def attempt() -> bool:
            now = self.clock.now()
            pipeline = self._tagged_pipeline(name)
            changed = pipeline.untag(keys, by=by, now=now)
            if changed:
                self.save(pipeline)
            return changed

        return self._transact(attempt)

    def list_tags_for_resource(self, name: str) -> list[dict[str, str]]:
        """The pipeline's tags as CodePipeline lists them: `[{key, value}]`, oldest key first."""
        return tag_list(self._tagged_pipeline(name).resource_tags)

    def _tagged_pipeline(self, name: str) -> Pipeline:
        try:
            return self.pipeline(name)
        except PipelineNotFoundException as error:
            raise ResourceNotFoundException(error.message) from None
