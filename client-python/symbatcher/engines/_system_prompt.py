"""The system message symai's chat engines would send for a call, rendered
here so that a remote engine sends what symai would have sent.

symai's prompt registry compiles its Jinja template on every render
(milliseconds per engine call); its environment is given a cache of compiled
templates the first time a prompt is rendered here.
"""

from __future__ import annotations

from typing import Any


def _cache_compiled_templates(env: Any) -> None:
    """symai's prompt registry compiles its Jinja template on every render
    (milliseconds per engine call). Compiled templates are immutable and
    thread-safe, so the environment's `from_string` is given a cache keyed by
    the template source; what renders is unchanged."""
    if getattr(env, "_symbatcher_template_cache", None) is not None:
        return
    compile_template = env.from_string
    cache: dict[str, Any] = {}
    env._symbatcher_template_cache = cache

    def from_string(source: Any, globals: Any = None, template_class: Any = None) -> Any:
        if globals is not None or template_class is not None or not isinstance(source, str):
            return compile_template(source, globals, template_class)
        template = cache.get(source)
        if template is None:
            template = cache[source] = compile_template(source)
        return template

    env.from_string = from_string


def render_system(argument: Any) -> str | None:
    """The system message symai's chat engines would send for this call."""
    try:
        from symai.backend.engines.neurosymbolic._prompts import (
            prompt_registry,
            render_chat_system_prompt,
        )
    except ImportError:
        return None
    try:
        _cache_compiled_templates(prompt_registry.jinja_env)
        rendered = render_chat_system_prompt(argument)
        return None if rendered is None else str(rendered)
    except Exception:
        return None
