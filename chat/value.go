package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/ardanlabs/jinja"
)

// toValue converts a Go value to a template value. Maps become dicts with
// sorted keys (Go maps have no order); json.RawMessage is decoded keeping
// the key order of the JSON text, which is what tojson then reproduces.
func toValue(x any, depth int) (jinja.Value, error) {
	if depth > maxJSONDepth {
		return jinja.Undefined(), fmt.Errorf("value nested deeper than %d", maxJSONDepth)
	}
	switch v := x.(type) {
	case nil:
		return jinja.None(), nil
	case json.RawMessage:
		return jsonValue(v)
	case bool:
		return jinja.NewBool(v), nil
	case string:
		return jinja.NewString(v), nil
	case int:
		return jinja.NewInt(int64(v)), nil
	case int32:
		return jinja.NewInt(int64(v)), nil
	case int64:
		return jinja.NewInt(v), nil
	case uint32:
		return jinja.NewInt(int64(v)), nil
	case float32:
		return jinja.NewFloat(float64(v)), nil
	case float64:
		return jinja.NewFloat(v), nil
	case json.Number:
		return numberValue(string(v))
	case Message:
		return messageValue(v, false)
	case Part:
		return partValue(v), nil
	}
	rv := reflect.ValueOf(x)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		items := make([]jinja.Value, rv.Len())
		for i := range items {
			it, err := toValue(rv.Index(i).Interface(), depth+1)
			if err != nil {
				return jinja.Undefined(), err
			}
			items[i] = it
		}
		return jinja.NewList(items), nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		keys := make([]string, 0, rv.Len())
		for _, k := range rv.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		d := jinja.NewDict()
		for _, k := range keys {
			it, err := toValue(rv.MapIndex(reflect.ValueOf(k).Convert(rv.Type().Key())).Interface(), depth+1)
			if err != nil {
				return jinja.Undefined(), err
			}
			d.AsDict().Set(k, it)
		}
		return d, nil
	}
	return jinja.Undefined(), fmt.Errorf("unsupported value type %T", x)
}

// numberValue converts JSON number text: integers that fit in int64 stay
// integers (Python keeps int and float apart), everything else is a float.
func numberValue(s string) (jinja.Value, error) {
	if !strings.ContainsAny(s, ".eE") {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return jinja.NewInt(n), nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return jinja.Undefined(), fmt.Errorf("bad number %q", s)
	}
	if math.IsInf(f, 0) && !strings.ContainsAny(s, ".eE") {
		return jinja.Undefined(), fmt.Errorf("integer %q out of range", s)
	}
	return jinja.NewFloat(f), nil
}

// jsonValue decodes JSON text into a template value, keeping object keys
// in document order.
func jsonValue(data []byte) (jinja.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeJSON(dec, 0)
	if err != nil {
		return jinja.Undefined(), fmt.Errorf("json: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return jinja.Undefined(), errors.New("json: trailing data after value")
	}
	return v, nil
}

func decodeJSON(dec *json.Decoder, depth int) (jinja.Value, error) {
	if depth > maxJSONDepth {
		return jinja.Undefined(), fmt.Errorf("nested deeper than %d", maxJSONDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return jinja.Undefined(), err
	}
	switch t := tok.(type) {
	case nil:
		return jinja.None(), nil
	case bool:
		return jinja.NewBool(t), nil
	case string:
		return jinja.NewString(t), nil
	case json.Number:
		return numberValue(string(t))
	case json.Delim:
		switch t {
		case '[':
			var items []jinja.Value
			for dec.More() {
				it, err := decodeJSON(dec, depth+1)
				if err != nil {
					return jinja.Undefined(), err
				}
				items = append(items, it)
			}
			if _, err := dec.Token(); err != nil {
				return jinja.Undefined(), err
			}
			return jinja.NewList(items), nil
		case '{':
			d := jinja.NewDict()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return jinja.Undefined(), err
				}
				k, ok := kt.(string)
				if !ok {
					return jinja.Undefined(), fmt.Errorf("object key %v is not a string", kt)
				}
				it, err := decodeJSON(dec, depth+1)
				if err != nil {
					return jinja.Undefined(), err
				}
				d.AsDict().Set(k, it)
			}
			if _, err := dec.Token(); err != nil {
				return jinja.Undefined(), err
			}
			return d, nil
		}
	}
	return jinja.Undefined(), fmt.Errorf("unexpected token %v", tok)
}

// partValue converts one content part.
func partValue(p Part) jinja.Value {
	d := jinja.NewDict()
	d.AsDict().Set("type", jinja.NewString(p.Type))
	if p.Type == "text" || p.Text != "" {
		d.AsDict().Set("text", jinja.NewString(p.Text))
	}
	return d
}

// messageValue converts a message to the dict a template sees: {"role",
// "content"}, where content is a list of parts when the message has parts
// or images (or asParts is set), and a string otherwise.
func messageValue(m Message, asParts bool) (jinja.Value, error) {
	d := jinja.NewDict()
	d.AsDict().Set("role", jinja.NewString(m.Role))
	switch parts := m.contentParts(asParts); {
	case parts != nil:
		items := make([]jinja.Value, len(parts))
		for i, p := range parts {
			items[i] = partValue(p)
		}
		d.AsDict().Set("content", jinja.NewList(items))
	default:
		d.AsDict().Set("content", jinja.NewString(m.Content))
	}
	return d, nil
}
