// Package chat renders Hugging Face chat templates (Jinja2) the way
// transformers' apply_chat_template does: jinja2's
// ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with
// the tojson filter as json.dumps(ensure_ascii=False) and the
// raise_exception and strftime_now globals.
//
// Templates execute on github.com/ardanlabs/jinja, hidden behind this
// package's small API. The package adds, in its own layer: jinja2's exact
// lexer whitespace rules (the engine's differ), a Python-compatible tojson
// (key order kept, Python float and string escaping, indent, separators,
// sort_keys), Python-like range/dict/strftime_now/raise_exception globals,
// and limits on loop iterations, macro recursion, range sizes and render
// time, so hostile templates end with an error wrapping ErrLimit instead of
// hanging.
//
// Known differences from Python jinja2 (engine limits, not fixed here):
// printing a float with {{ x }} uses Go's %g ("1" for 1.0, where Python
// prints "1.0"; tojson is exact); dict(...) and namespace(...) keyword
// arguments lose their source order (dict sorts them); "{% filter tojson %}"
// and map('tojson') use the engine's own tojson; expressions such as
// 'x' * 1000000000 allocate what they ask for, as in Python, since only
// loops, macro calls, range() and time are bounded.
//
// FromConfigs finds a model's template in tokenizer_config.json and
// chat_template.json; ChatML and Plain are fixed fallback formats.
package chat
