#!/usr/bin/env python3
"""Generates golden_python.json: renderings by Python jinja2 configured like
transformers.apply_chat_template (ImmutableSandboxedEnvironment with
trim_blocks/lstrip_blocks, tojson = json.dumps(ensure_ascii=False, ...),
raise_exception, strftime_now with a fixed clock, loopcontrols).

Run from this directory: python3 gen_golden.py > golden_python.json
"""
import datetime
import gzip
import json
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

NOW = datetime.datetime(2024, 7, 26, 13, 5, 9)


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
                          separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return NOW.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def config_template(path):
    with open(path) as f:
        return json.load(f)["chat_template"]


TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city, e.g. \"Paris\" & <others>.",
        "parameters": {"type": "object", "properties": {
            "location": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7.5}},
            "required": ["location"]}}},
    {"type": "function", "function": {
        "name": "zz_time", "description": "Current time — UTC", "parameters": {
            "type": "object", "properties": {}}}},
]
TOOL_CALL_MSGS = [
    {"role": "system", "content": "You are a tool-using assistant."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {
        "name": "get_weather", "arguments": {"unit": "celsius", "location": "Paris", "days": 2}}}]},
    {"role": "tool", "content": "{\"temp\": 21.5, \"sky\": \"clear\"}"},
    {"role": "assistant", "content": "It is 21.5 °C and clear."},
    {"role": "user", "content": "Thanks!"},
]
QWEN_MULTI = [
    {"role": "user", "content": "Weather and time?"},
    {"role": "assistant", "content": "Checking.", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"location": "Oslo"}}},
        {"type": "function", "function": {"name": "zz_time", "arguments": {}}}]},
    {"role": "tool", "content": "cold"},
    {"role": "tool", "content": "12:00"},
]

FLOATS = {"b": 1.0, "a": [0.1, 1e20, 1e16, 1234567890123456.0, 1e-05, 0.0001, -0.0, 2.5e-7, 123456789.0, 3],
          "s": "quote\" back\\ nl\n tab\t cr\r bell\x07 del\x7f é 日本 🤗 \u2028 </script>&",
          "e": [], "o": {}, "n": None, "t": True, "f": False,
          "nested": {"z": {"y": [1, {"x": []}]}}}

WS = [
    ("for_indent", "{% for m in messages %}\n  {{ m.role }}\n{% endfor %}\n"),
    ("if_indent", "  {% if true %}\n    x\n  {% endif %}\n  y"),
    ("comments", "a {# c #} b\n{# c2 #}\nc\n  {# c3 #}\nd"),
    ("dash_both", "{%- if true -%}  \n  z  \n{%- endif -%}  tail"),
    ("plus_left", "q\n    {%+ if true %}k\n{% endif %}end"),
    ("raw", "{% raw %}{{ not rendered }} {% if %}{% endraw %}\nafter"),
    ("expr_then_block_nl", "x{{ 'y' }}\n{% if true %}\nz{% endif %}\n{{ 'w' }}\nv"),
    ("midline_block", "{{ 'a' }}   {% if true %}b{% endif %}  c"),
    ("tab_indent", "line\n\t  {% if true %}\n\tq\n{% endif %}"),
    ("macro", "{% macro f(x) %}\n[{{ x }}]\n{% endmacro %}{{ f(1) }}{{ f('two') }}"),
    ("expr_dash", "{{ 'a' -}}   \n\n  {{- 'b' }}\n {{ 'c' }}"),
    ("crlf", "\r\n line1\r\n{% if true %}\r\nline2\r\n{% endif %}\r\n"),
    ("trailing_nl", "x\n\n"),
    ("namespace", "{% set ns = namespace(c=0) %}{% for i in range(3) %}{% set ns.c = ns.c + i %}{% endfor %}{{ ns.c }}"),
    ("loop_vars", "{% for m in messages %}{{ loop.index }}/{{ loop.length }}{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %} {% endfor %}"),
    ("break_continue", "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}"),
    ("comment_lstrip_then_text", "a\n   {#- x #}  b\n {# y -#}\n\n c"),
    ("set_block", "{% set x %}\n  inner {{ 1 + 1 }}\n{% endset %}[{{ x }}]"),
    ("string_ops", "{{ '  Hi There  '|trim|lower }}|{{ 'abc'|upper }}|{{ 'hello world'|title }}|{{ 'a,b'.split(',')|join('+') }}|{{ 'x' ~ 1 }}|{{ messages|length }}"),
    ("not_defined", "{% if foo is defined %}D{% else %}U{% endif %}{{ foo }}|{{ messages[0].missing }}|"),
    ("slices", "{{ messages[1:]|length }}{{ messages[-1].role }}{% for m in messages[::-1] %}{{ m.role[0] }}{% endfor %}"),
]

TOJSON = [
    ("tojson_default", "{{ data | tojson }}"),
    ("tojson_indent2", "{{ data | tojson(indent=2) }}"),
    ("tojson_indent4_sorted", "{{ data | tojson(indent=4, sort_keys=true) }}"),
    ("tojson_separators", "{{ data | tojson(separators=[',', ':']) }}"),
    ("tojson_ascii", "{{ data.s | tojson(ensure_ascii=true) }}"),
    ("tojson_msgs", "{% for m in messages %}{{ m | tojson }}\n{% endfor %}"),
]

ERRORS = [
    ("raise", "{% if messages|length > 1 %}{{ raise_exception('Only one message is supported!') }}{% endif %}ok"),
]

LLAMA = open("meta-llama-Llama-3.2-3B-Instruct.jinja").read()
QWEN = config_template("Qwen2.5-0.5B-Instruct/tokenizer_config.json")
QWEN3 = config_template("Qwen3-0.6B/tokenizer_config.json")
with gzip.open("gemma-3-1b-it/tokenizer_config.json.gz") as f:
    GEMMA3 = json.load(f)["chat_template"]

CASES = []


def add(name, template, context, template_ref=None):
    CASES.append((name, template, context, template_ref))


SIMPLE = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
          {"role": "assistant", "content": "A"}]
for n, t in WS + ERRORS:
    add("ws/" + n, t, {"messages": SIMPLE})
for n, t in TOJSON:
    add("json/" + n, t, {"messages": TOOL_CALL_MSGS[:3], "data": FLOATS})

add("qwen/tools", None, {"messages": TOOL_CALL_MSGS, "tools": TOOLS, "add_generation_prompt": True}, "qwen")
add("qwen/tools_multi_call", None, {"messages": QWEN_MULTI, "tools": TOOLS, "add_generation_prompt": True}, "qwen")
add("qwen/no_tools", None, {"messages": TOOL_CALL_MSGS[:2], "add_generation_prompt": False}, "qwen")
llama_base = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
add("llama/strftime_now", None, dict(llama_base, messages=[{"role": "user", "content": "  Hi  "}], add_generation_prompt=True), "llama")
add("llama/tools_in_user", None, dict(llama_base, messages=TOOL_CALL_MSGS, tools=TOOLS, add_generation_prompt=True, date_string="01 Jan 2025"), "llama")
add("llama/tools_in_system", None, dict(llama_base, messages=TOOL_CALL_MSGS, tools=TOOLS, tools_in_user_message=False, add_generation_prompt=True), "llama")
add("llama/multi_tool_error", None, dict(llama_base, messages=QWEN_MULTI, add_generation_prompt=True), "llama")
add("llama/tools_no_user_error", None, dict(llama_base, messages=[{"role": "system", "content": "s"}], tools=TOOLS), "llama")

# Qwen3: <think> handling around the last user query, reasoning_content,
# multi-step tool calls, tool responses sent as user text, enable_thinking.
QWEN3_AGENT = [
    {"role": "system", "content": "You are an agent."},
    {"role": "user", "content": "Weather in Oslo, then the time?"},
    {"role": "assistant", "content": "<think>\nNeed two tools.\n</think>\n\nChecking.", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"location": "Oslo", "days": 1}}},
        {"name": "zz_time", "arguments": "{\"tz\": \"CET\"}"}]},
    {"role": "tool", "content": "cold"},
    {"role": "tool", "content": "12:00"},
    {"role": "assistant", "content": "", "reasoning_content": "\nBoth answered.\n", "tool_calls": [
        {"type": "function", "function": {"name": "zz_time", "arguments": {}}}]},
    {"role": "user", "content": "<tool_response>\n12:01\n</tool_response>"},
    {"role": "assistant", "content": "\n\nIt is cold; 12:01.</think>tail"},
]
QWEN3_HISTORY = [
    {"role": "user", "content": "Q1"},
    {"role": "assistant", "content": "<think>r1</think>A1"},
    {"role": "system", "content": "Mid-conversation system note."},
    {"role": "user", "content": "Q2"},
    {"role": "assistant", "content": "A2 without thinking", "reasoning_content": None},
]
add("qwen3/agent_tools", None, {"messages": QWEN3_AGENT, "tools": TOOLS, "add_generation_prompt": True}, "qwen3")
add("qwen3/agent_no_tools_thinking_off", None, {"messages": QWEN3_AGENT[1:], "add_generation_prompt": True, "enable_thinking": False}, "qwen3")
add("qwen3/history_thinking_on", None, {"messages": QWEN3_HISTORY, "add_generation_prompt": True, "enable_thinking": True}, "qwen3")
add("qwen3/history_no_prompt", None, {"messages": QWEN3_HISTORY, "enable_thinking": False}, "qwen3")
add("qwen3/tools_only_system", None, {"messages": [{"role": "user", "content": "hi"}], "tools": TOOLS[1:]}, "qwen3")

# Gemma 3: system text folded into the first user turn (string or parts),
# trimmed contents, images, role alternation and content type errors.
gemma_base = {"bos_token": "<bos>", "eos_token": "<end_of_turn>"}
GEMMA3_PARTS = [
    {"role": "system", "content": [{"type": "text", "text": "Be brief. "}, {"type": "text", "text": "ignored"}]},
    {"role": "user", "content": [{"type": "text", "text": " Look: "}, {"type": "image"}, {"type": "image"}, {"type": "text", "text": "\tand compare\n"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "  Two cats. "}]},
    {"role": "user", "content": "\u3000Thanks\u00a0"},
]
add("gemma3/parts_and_images", None, dict(gemma_base, messages=GEMMA3_PARTS, add_generation_prompt=True), "gemma3")
add("gemma3/system_string", None, dict(gemma_base, messages=[{"role": "system", "content": "Sys\n"}, {"role": "user", "content": "U"}, {"role": "assistant", "content": "A"}]), "gemma3")
add("gemma3/no_bos", None, {"messages": [{"role": "user", "content": "U"}], "add_generation_prompt": True}, "gemma3")
add("gemma3/assistant_first_error", None, dict(gemma_base, messages=[{"role": "assistant", "content": "A"}]), "gemma3")
add("gemma3/content_none_error", None, dict(gemma_base, messages=[{"role": "user", "content": None}]), "gemma3")


def main():
    env = make_env()
    out = []
    for name, template, context, ref in CASES:
        src = {"qwen": QWEN, "llama": LLAMA, "qwen3": QWEN3, "gemma3": GEMMA3}.get(ref, template)
        entry = {"name": name}
        if ref:
            entry["template_ref"] = ref
        else:
            entry["template"] = template
        entry["context"] = context
        try:
            entry["rendered"] = env.from_string(src).render(**context)
        except jinja2.exceptions.TemplateError as e:
            entry["error"] = str(e)
        out.append(entry)
    doc = {
        "generator": "gen_golden.py",
        "jinja2": jinja2.__version__,
        "python": sys.version.split()[0],
        "now": NOW.isoformat(),
        "cases": out,
    }
    json.dump(doc, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


main()
