package chat

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ardanlabs/jinja"
)

// Default render limits (see Options).
const (
	DefaultMaxSteps  = 1 << 20
	DefaultTimeout   = 10 * time.Second
	DefaultMaxOutput = 4 << 20
	// maxMacroDepth bounds macro recursion.
	maxMacroDepth = 200
	// maxRange bounds the length of a list made by range(); it is jinja2's
	// sandbox MAX_RANGE, which transformers' environment also enforces.
	maxRange = 100000
)

// ErrLimit is wrapped by render errors caused by a render limit (steps,
// time, macro recursion depth, range size, output and value size).
var ErrLimit = errors.New("render limit exceeded")

// RaisedError is returned when a template calls raise_exception(message).
type RaisedError struct {
	Message string
}

// Error implements error.
func (e *RaisedError) Error() string { return "template raised: " + e.Message }

// Part is one item of a multimodal message content list, rendered as
// {"type": Type, "text": Text} ("text" only for text parts).
type Part struct {
	Type string // "text" or "image"
	Text string
}

// Message is one chat turn.
//
// The template sees {"role": Role, "content": ...}. Content is a string,
// unless Parts is non-nil (content is then that list of parts, in order) or
// Images > 0 (content is then Images image parts followed by a text part
// holding Content when it is not empty, which is how Hugging Face
// processors build SmolVLM / Idefics3 prompts).
type Message struct {
	Role    string
	Content string
	Images  int    // number of image parts for VLM templates
	Parts   []Part // explicit content parts; overrides Content and Images
}

// contentParts returns the content list for m, or nil for string content.
func (m Message) contentParts(force bool) []Part {
	if m.Parts != nil {
		return m.Parts
	}
	if m.Images <= 0 && !force {
		return nil
	}
	parts := make([]Part, 0, m.Images+1)
	for range m.Images {
		parts = append(parts, Part{Type: "image"})
	}
	if m.Content != "" {
		parts = append(parts, Part{Type: "text", Text: m.Content})
	}
	return parts
}

// Options are the template variables and limits of one render.
type Options struct {
	// AddGenerationPrompt sets add_generation_prompt.
	AddGenerationPrompt bool
	// BOSToken and EOSToken set bos_token and eos_token; an empty string
	// leaves the variable undefined, as for a tokenizer without one.
	BOSToken, EOSToken string
	// ContentParts renders every message's content as a list of parts
	// (text-only messages get one text part), as multimodal processors do.
	ContentParts bool
	// Extra holds further variables: the keyword arguments transformers'
	// apply_chat_template passes to the template (tools, documents,
	// date_string, Qwen3's enable_thinking, ...).
	// Values may be nil, bool, string, integers, floats, json.Number,
	// json.RawMessage (decoded keeping its object key order, which tojson
	// reproduces), Message, Part, and slices and string-keyed maps of
	// these (map keys are sorted). Extra overrides the variables above.
	Extra map[string]any
	// Now is the clock of strftime_now; the zero value means time.Now().
	Now time.Time
	// MaxSteps bounds loop iterations plus macro calls; 0 means
	// DefaultMaxSteps.
	MaxSteps int
	// Timeout bounds the render time (checked at loop iterations and macro
	// calls); 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxOutput bounds, in bytes, the rendered output (counting everything
	// printed, macro output included) and every string a "set" stores; a
	// list a "set" stores may hold at most MaxOutput/16 items. 0 means
	// DefaultMaxOutput.
	MaxOutput int
}

// Template is a parsed chat template. It is safe for concurrent use.
type Template struct {
	src   string
	eng   *jinja.Template
	texts jinja.Value
}

// Parse compiles a Hugging Face chat template (Jinja2 source).
func Parse(src string) (t *Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("chat: parse template: engine panic: %v", r)
		}
	}()
	c, err := preprocess(src)
	if err != nil {
		return nil, fmt.Errorf("chat: parse template: %w", err)
	}
	eng, err := jinja.Compile(c.source)
	if err != nil {
		return nil, fmt.Errorf("chat: parse template: %w", err)
	}
	texts := make([]jinja.Value, len(c.texts))
	for i, s := range c.texts {
		texts[i] = jinja.NewString(s)
	}
	return &Template{src: src, eng: eng, texts: jinja.NewList(texts)}, nil
}

// Source returns the template source given to Parse.
func (t *Template) Source() string { return t.src }

// Render renders msgs like transformers' apply_chat_template(tokenize=False).
func (t *Template) Render(msgs []Message, opts Options) (string, error) {
	items := make([]jinja.Value, len(msgs))
	for i, m := range msgs {
		v, err := messageValue(m, opts.ContentParts)
		if err != nil {
			return "", fmt.Errorf("chat: message %d: %w", i, err)
		}
		items[i] = v
	}
	return t.render(jinja.NewList(items), opts)
}

// RenderJSON is Render with the messages given as a JSON array of message
// objects (OpenAI / Hugging Face style, e.g. with "tool_calls"); object key
// order is kept.
func (t *Template) RenderJSON(messages []byte, opts Options) (string, error) {
	v, err := jsonValue(messages)
	if err != nil {
		return "", fmt.Errorf("chat: messages: %w", err)
	}
	if !v.IsList() {
		return "", errors.New("chat: messages: not a JSON array")
	}
	return t.render(v, opts)
}

func (t *Template) render(messages jinja.Value, opts Options) (out string, err error) {
	g := &guard{maxSteps: opts.MaxSteps, start: time.Now(), timeout: opts.Timeout}
	if g.maxSteps <= 0 {
		g.maxSteps = DefaultMaxSteps
	}
	if g.timeout <= 0 {
		g.timeout = DefaultTimeout
	}
	g.maxOut = opts.MaxOutput
	if g.maxOut <= 0 {
		g.maxOut = DefaultMaxOutput
	}
	now := opts.Now
	data := map[string]jinja.Value{
		"messages":              messages,
		"add_generation_prompt": jinja.NewBool(opts.AddGenerationPrompt),
		"raise_exception":       jinja.NewCallable("raise_exception", builtinRaise),
		"strftime_now": jinja.NewCallable("strftime_now", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
			if len(args) != 1 || !args[0].IsString() {
				return jinja.Undefined(), errors.New("strftime_now: expected one format string")
			}
			tm := now
			if tm.IsZero() {
				tm = time.Now()
			}
			return jinja.NewString(strftime(tm, args[0].AsString())), nil
		}),
		"range": jinja.NewCallable("range", builtinRange),
		"dict":  jinja.NewCallable("dict", builtinDict),
		varText: t.texts,
		varStep: jinja.NewCallable(varStep, func([]jinja.Value, map[string]jinja.Value) (jinja.Value, error) {
			return jinja.NewString(""), g.step()
		}),
		varEnter: jinja.NewCallable(varEnter, func([]jinja.Value, map[string]jinja.Value) (jinja.Value, error) {
			g.depth++
			if g.depth > maxMacroDepth {
				return jinja.Undefined(), fmt.Errorf("macro calls nested deeper than %d: %w", maxMacroDepth, ErrLimit)
			}
			return jinja.NewString(""), g.step()
		}),
		varLeave: jinja.NewCallable(varLeave, func([]jinja.Value, map[string]jinja.Value) (jinja.Value, error) {
			g.depth--
			return jinja.NewString(""), nil
		}),
		varToJSON: jinja.NewCallable("tojson", filterToJSON),
		varOut: jinja.NewCallable(varOut, func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
			if len(args) != 1 {
				return jinja.Undefined(), errors.New("output hook: want one value")
			}
			return args[0], g.output(args[0])
		}),
		varSize: jinja.NewCallable(varSize, func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
			if len(args) != 1 {
				return jinja.Undefined(), errors.New("set hook: want one value")
			}
			return args[0], g.value(args[0])
		}),
	}
	if opts.BOSToken != "" {
		data["bos_token"] = jinja.NewString(opts.BOSToken)
	}
	if opts.EOSToken != "" {
		data["eos_token"] = jinja.NewString(opts.EOSToken)
	}
	keys := make([]string, 0, len(opts.Extra))
	for k := range opts.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.HasPrefix(k, reservedPrefix) {
			return "", fmt.Errorf("chat: variable %q: name is reserved", k)
		}
		v, err := toValue(opts.Extra[k], 0)
		if err != nil {
			return "", fmt.Errorf("chat: variable %q: %w", k, err)
		}
		data[k] = v
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("chat: render: engine panic: %v", r)
		}
	}()
	out, err = t.eng.RenderValues(data)
	if err != nil {
		return "", fmt.Errorf("chat: render: %w", err)
	}
	return out, nil
}

// guard counts the work of one render.
type guard struct {
	steps, maxSteps int
	depth           int
	start           time.Time
	timeout         time.Duration
	out, maxOut     int // bytes printed so far, and the cap
}

// output counts a printed value against MaxOutput.
func (g *guard) output(v jinja.Value) error {
	n := 0
	switch {
	case v.IsString():
		n = len(v.AsString())
	case v.IsList(), v.IsDict():
		if err := g.value(v); err != nil {
			return err
		}
		n = len(v.String())
	}
	g.out += n
	if g.out > g.maxOut {
		return fmt.Errorf("rendered output exceeds %d bytes: %w", g.maxOut, ErrLimit)
	}
	return nil
}

// value checks the size of a value stored by "set": a string of at most
// maxOut bytes, a list or dict of at most maxOut/16 items.
func (g *guard) value(v jinja.Value) error {
	switch {
	case v.IsString() && len(v.AsString()) > g.maxOut:
		return fmt.Errorf("a string of %d bytes exceeds the limit of %d: %w", len(v.AsString()), g.maxOut, ErrLimit)
	case v.IsList() && v.AsList().Len() > g.maxOut/16:
		return fmt.Errorf("a list of %d items exceeds the limit of %d: %w", v.AsList().Len(), g.maxOut/16, ErrLimit)
	case v.IsDict() && len(v.AsDict().Keys) > g.maxOut/16:
		return fmt.Errorf("a dict of %d items exceeds the limit of %d: %w", len(v.AsDict().Keys), g.maxOut/16, ErrLimit)
	}
	return nil
}

func (g *guard) step() error {
	g.steps++
	if g.steps > g.maxSteps {
		return fmt.Errorf("more than %d loop iterations and macro calls: %w", g.maxSteps, ErrLimit)
	}
	if g.steps&255 == 0 && time.Since(g.start) > g.timeout {
		return fmt.Errorf("render took longer than %v: %w", g.timeout, ErrLimit)
	}
	return nil
}

func builtinRaise(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	msg := ""
	if len(args) > 0 {
		msg = pyStr(args[0])
	}
	return jinja.Undefined(), &RaisedError{Message: msg}
}

// pyStr is Python's str() of a value for error messages.
func pyStr(v jinja.Value) string {
	if v.IsString() {
		return v.AsString()
	}
	return v.String()
}

// builtinRange is Python's range() returning a list, bounded in length.
func builtinRange(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	var n [3]int64
	for i, a := range args {
		if i >= 3 || !a.IsInt() {
			return jinja.Undefined(), errors.New("range: expected 1 to 3 integer arguments")
		}
		n[i] = a.AsInt()
	}
	start, stop, step := int64(0), int64(0), int64(1)
	switch len(args) {
	case 1:
		stop = n[0]
	case 2:
		start, stop = n[0], n[1]
	case 3:
		start, stop, step = n[0], n[1], n[2]
	default:
		return jinja.Undefined(), errors.New("range: expected 1 to 3 integer arguments")
	}
	if step == 0 {
		return jinja.Undefined(), errors.New("range: step must not be zero")
	}
	var count int64
	switch {
	case step > 0 && stop > start:
		count = (stop - start + step - 1) / step
	case step < 0 && stop < start:
		count = (start - stop - step - 1) / -step
	}
	if count < 0 || count > maxRange {
		return jinja.Undefined(), fmt.Errorf("range of more than %d items (the sandbox's MAX_RANGE): %w", maxRange, ErrLimit)
	}
	items := make([]jinja.Value, count)
	for i := range items {
		items[i] = jinja.NewInt(start + int64(i)*step)
	}
	return jinja.NewList(items), nil
}

// builtinDict is dict(**kwargs), plus dict(mapping) copies. The engine
// hands over keyword arguments unordered, so keys are sorted.
func builtinDict(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	d := jinja.NewDict()
	if len(args) > 1 {
		return jinja.Undefined(), errors.New("dict: expected at most 1 positional argument")
	}
	if len(args) == 1 {
		if !args[0].IsDict() {
			return jinja.Undefined(), errors.New("dict: positional argument must be a mapping")
		}
		src := args[0].AsDict()
		for _, k := range src.Keys {
			d.AsDict().Set(k, src.Data[k])
		}
	}
	keys := make([]string, 0, len(kwargs))
	for k := range kwargs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d.AsDict().Set(k, kwargs[k])
	}
	return d, nil
}
