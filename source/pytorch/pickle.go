package pytorch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// This file is a small, restricted pickle virtual machine. It understands the
// opcodes torch.save emits (protocol 2, plus the protocol 3-5 framing and
// string opcodes) and builds only inert Go values: it never imports or calls
// anything. GLOBAL names are checked against an allow-list when they are
// pushed, so a pickle naming os.system or builtins.eval fails right there.

// Python values as the VM represents them: int64, float64, string, []byte,
// bool, nil, pyTuple, *pyList, *pyDict, pyGlobal, plus the torch objects
// *storageRef and *tensorRef built by the allowed callables.
type (
	pyTuple []any
	pyList  struct{ items []any }
	pyDict  struct {
		keys  []any
		vals  []any
		index map[any]int
	}
	pyGlobal struct{ module, name string }
)

func newDict() *pyDict { return &pyDict{index: map[any]int{}} }

func (d *pyDict) set(k, v any) error {
	switch k.(type) {
	case string, int64, bool, nil, float64:
	default:
		return fmt.Errorf("unsupported dict key of type %s", typeName(k))
	}
	if i, ok := d.index[k]; ok {
		d.vals[i] = v
		return nil
	}
	d.index[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

func (g pyGlobal) String() string { return g.module + "." + g.name }

// typeName describes a value for error messages without formatting it (values
// from hostile input may be cyclic).
func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case bool:
		return "bool"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case pyGlobal:
		return v.String()
	case *storageRef:
		return "storage"
	case *tensorRef:
		return "tensor"
	case markObj:
		return "mark"
	}
	return fmt.Sprintf("%T", v)
}

type markObj struct{}

// Limits that keep hostile pickles from exhausting memory. Lengths are also
// always checked against the bytes that remain, so nothing is allocated for a
// length that the input does not actually hold.
const (
	maxMemo     = 1 << 20 // memo slots
	maxStack    = 1 << 20 // values on the stack
	maxItems    = 1 << 22 // values stored in lists and dicts, in total
	maxIntBytes = 8       // LONG1/LONG4 payload
)

// globalAllowed reports whether a GLOBAL may be pushed. Only the names a state
// dict needs are allowed; their meaning is given by reduce, not by Python.
func globalAllowed(g pyGlobal) bool {
	switch g.String() {
	case "collections.OrderedDict",
		"torch._utils._rebuild_tensor",
		"torch._utils._rebuild_tensor_v2",
		"torch._utils._rebuild_parameter",
		"torch._utils._rebuild_parameter_with_state",
		"torch._tensor._rebuild_from_type_v2",
		"torch.Size",
		"torch.Tensor",
		"torch.nn.parameter.Parameter":
		return true
	}
	if g.module == "torch" {
		_, ok := storageDTypes[g.name]
		return ok
	}
	return false
}

// unpickler executes one pickle from data[pos:].
type unpickler struct {
	data  []byte
	pos   int
	stack []any
	marks []int
	memo  map[int]any
	// persistentLoad resolves BINPERSID / PERSID ids.
	persistentLoad func(pid any) (any, error)
	// reduce calls an allowed global.
	reduce func(fn pyGlobal, args pyTuple) (any, error)
	// items counts values stored in containers (see maxItems).
	items int
}

// errTruncated reports a pickle that ends before STOP.
var errTruncated = errors.New("truncated pickle")

func (u *unpickler) need(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, fmt.Errorf("%w: need %d bytes at offset %d, have %d", errTruncated, n, u.pos, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

// lengthWidth is the size of the length prefix of a sized opcode.
func lengthWidth(op byte) int {
	switch op {
	case 0x8a, 0x8c, 'U', 'C': // LONG1, SHORT_BINUNICODE, SHORT_BINSTRING, SHORT_BINBYTES
		return 1
	case 0x8d, 0x8e: // BINUNICODE8, BINBYTES8
		return 8
	}
	return 4 // LONG4, BINUNICODE, BINSTRING, BINBYTES
}

// length reads an n-byte little-endian length and checks that many bytes remain.
func (u *unpickler) length(n int) (int, error) {
	b, err := u.need(n)
	if err != nil {
		return 0, err
	}
	var l uint64
	switch n {
	case 1:
		l = uint64(b[0])
	case 4:
		l = uint64(binary.LittleEndian.Uint32(b))
	case 8:
		l = binary.LittleEndian.Uint64(b)
	}
	if l > uint64(len(u.data)-u.pos) {
		return 0, fmt.Errorf("length %d at offset %d exceeds the %d bytes left", l, u.pos-n, len(u.data)-u.pos)
	}
	return int(l), nil
}

func (u *unpickler) line() (string, error) {
	i := strings.IndexByte(string(u.data[u.pos:min(len(u.data), u.pos+4096)]), '\n')
	if i < 0 {
		return "", fmt.Errorf("%w: unterminated line at offset %d", errTruncated, u.pos)
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	n := len(u.stack)
	if n == 0 || (len(u.marks) > 0 && u.marks[len(u.marks)-1] == n) {
		return nil, errors.New("stack underflow")
	}
	v := u.stack[n-1]
	u.stack = u.stack[:n-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	n := len(u.stack)
	if n == 0 || (len(u.marks) > 0 && u.marks[len(u.marks)-1] == n) {
		return nil, errors.New("stack underflow")
	}
	return u.stack[n-1], nil
}

// popMark pops everything above the last MARK.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) put(i int, v any) error {
	if i < 0 {
		return fmt.Errorf("negative memo index %d", i)
	}
	if _, ok := u.memo[i]; !ok && len(u.memo) >= maxMemo {
		return fmt.Errorf("memo exceeds %d entries", maxMemo)
	}
	u.memo[i] = v
	return nil
}

func (u *unpickler) get(i int) error {
	v, ok := u.memo[i]
	if !ok {
		return fmt.Errorf("memo index %d not defined", i)
	}
	u.push(v)
	return nil
}

func (u *unpickler) global(module, name string) error {
	g := pyGlobal{module, name}
	if !globalAllowed(g) {
		return fmt.Errorf("forbidden global %s (only tensors, storages and OrderedDict are allowed)", g)
	}
	u.push(g)
	return nil
}

func decodeLong(b []byte) (int64, error) {
	if len(b) > maxIntBytes {
		return 0, fmt.Errorf("integer of %d bytes is too large", len(b))
	}
	if len(b) == 0 {
		return 0, nil
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	if shift := 64 - 8*uint(len(b)); shift > 0 {
		return int64(v<<shift) >> shift, nil // sign-extend
	}
	return int64(v), nil
}

// run executes opcodes until STOP and returns the result.
func (u *unpickler) run() (any, error) {
	if u.memo == nil {
		u.memo = map[int]any{}
	}
	for {
		at := u.pos
		if at >= len(u.data) {
			return nil, fmt.Errorf("%w: no STOP opcode", errTruncated)
		}
		op := u.data[at]
		u.pos++
		v, done, err := u.step(op)
		if err == nil && len(u.stack) > maxStack {
			err = fmt.Errorf("stack exceeds %d values", maxStack)
		}
		if err == nil && u.items > maxItems {
			err = fmt.Errorf("containers exceed %d values", maxItems)
		}
		if err != nil {
			return nil, fmt.Errorf("pickle opcode 0x%02x at offset %d: %w", op, at, err)
		}
		if done {
			return v, nil
		}
	}
}

func (u *unpickler) step(op byte) (result any, done bool, err error) {
	switch op {
	case 0x80: // PROTO
		b, err := u.need(1)
		if err != nil {
			return nil, false, err
		}
		if b[0] > 5 {
			return nil, false, fmt.Errorf("unsupported pickle protocol %d", b[0])
		}
	case 0x95: // FRAME (protocol 4): an 8-byte frame length; frames are transparent here.
		if _, err := u.need(8); err != nil {
			return nil, false, err
		}
	case '.': // STOP
		v, err := u.pop()
		if err != nil {
			return nil, false, err
		}
		return v, true, nil
	case '(': // MARK
		u.marks = append(u.marks, len(u.stack))
	case '0': // POP
		if _, err := u.pop(); err != nil {
			return nil, false, err
		}
	case '1': // POP_MARK
		if _, err := u.popMark(); err != nil {
			return nil, false, err
		}
	case '2': // DUP
		v, err := u.top()
		if err != nil {
			return nil, false, err
		}
		u.push(v)
	case 'N':
		u.push(nil)
	case 0x88:
		u.push(true)
	case 0x89:
		u.push(false)
	case 'J': // BININT
		b, err := u.need(4)
		if err != nil {
			return nil, false, err
		}
		u.push(int64(int32(binary.LittleEndian.Uint32(b))))
	case 'K': // BININT1
		b, err := u.need(1)
		if err != nil {
			return nil, false, err
		}
		u.push(int64(b[0]))
	case 'M': // BININT2
		b, err := u.need(2)
		if err != nil {
			return nil, false, err
		}
		u.push(int64(binary.LittleEndian.Uint16(b)))
	case 0x8a, 0x8b: // LONG1, LONG4
		n, err := u.length(lengthWidth(op))
		if err != nil {
			return nil, false, err
		}
		b, _ := u.need(n)
		v, err := decodeLong(b)
		if err != nil {
			return nil, false, err
		}
		u.push(v)
	case 'I', 'L': // INT, LONG (text)
		s, err := u.line()
		if err != nil {
			return nil, false, err
		}
		s = strings.TrimSuffix(s, "L")
		switch s {
		case "00":
			u.push(false)
		case "01":
			u.push(true)
		default:
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, false, fmt.Errorf("bad integer %q", s)
			}
			u.push(v)
		}
	case 'G': // BINFLOAT (big-endian)
		b, err := u.need(8)
		if err != nil {
			return nil, false, err
		}
		u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case 'X', 0x8c, 0x8d, 'T', 'U': // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, BINSTRING, SHORT_BINSTRING
		n, err := u.length(lengthWidth(op))
		if err != nil {
			return nil, false, err
		}
		b, _ := u.need(n)
		u.push(string(b))
	case 'B', 'C', 0x8e: // BINBYTES, SHORT_BINBYTES, BINBYTES8
		n, err := u.length(lengthWidth(op))
		if err != nil {
			return nil, false, err
		}
		b, _ := u.need(n)
		u.push(b)
	case ')':
		u.push(pyTuple{})
	case 't':
		items, err := u.popMark()
		if err != nil {
			return nil, false, err
		}
		u.push(pyTuple(items))
	case 0x85, 0x86, 0x87: // TUPLE1..3
		n := int(op - 0x84)
		if len(u.stack) < n || (len(u.marks) > 0 && u.marks[len(u.marks)-1] > len(u.stack)-n) {
			return nil, false, errors.New("stack underflow")
		}
		t := append(pyTuple(nil), u.stack[len(u.stack)-n:]...)
		u.stack = u.stack[:len(u.stack)-n]
		u.push(t)
	case ']':
		u.push(&pyList{})
	case 'l': // LIST
		items, err := u.popMark()
		if err != nil {
			return nil, false, err
		}
		u.items += len(items)
		u.push(&pyList{items: items})
	case 'a': // APPEND
		v, err := u.pop()
		if err != nil {
			return nil, false, err
		}
		l, err := u.top()
		if err != nil {
			return nil, false, err
		}
		lst, ok := l.(*pyList)
		if !ok {
			return nil, false, fmt.Errorf("APPEND to %s", typeName(l))
		}
		lst.items = append(lst.items, v)
		u.items++
	case 'e': // APPENDS
		items, err := u.popMark()
		if err != nil {
			return nil, false, err
		}
		l, err := u.top()
		if err != nil {
			return nil, false, err
		}
		lst, ok := l.(*pyList)
		if !ok {
			return nil, false, fmt.Errorf("APPENDS to %s", typeName(l))
		}
		lst.items = append(lst.items, items...)
		u.items += len(items)
	case '}':
		u.push(newDict())
	case 'd': // DICT
		items, err := u.popMark()
		if err != nil {
			return nil, false, err
		}
		d := newDict()
		u.items += len(items)
		if err := setItems(d, items); err != nil {
			return nil, false, err
		}
		u.push(d)
	case 's': // SETITEM
		v, err := u.pop()
		if err != nil {
			return nil, false, err
		}
		k, err := u.pop()
		if err != nil {
			return nil, false, err
		}
		if err := u.setItemsOnTop([]any{k, v}); err != nil {
			return nil, false, err
		}
	case 'u': // SETITEMS
		items, err := u.popMark()
		if err != nil {
			return nil, false, err
		}
		if err := u.setItemsOnTop(items); err != nil {
			return nil, false, err
		}
	case 'q', 'r': // BINPUT, LONG_BINPUT
		var i int
		if op == 'q' {
			b, err := u.need(1)
			if err != nil {
				return nil, false, err
			}
			i = int(b[0])
		} else {
			b, err := u.need(4)
			if err != nil {
				return nil, false, err
			}
			i = int(binary.LittleEndian.Uint32(b))
		}
		v, err := u.top()
		if err != nil {
			return nil, false, err
		}
		if err := u.put(i, v); err != nil {
			return nil, false, err
		}
	case 0x94: // MEMOIZE
		v, err := u.top()
		if err != nil {
			return nil, false, err
		}
		if err := u.put(len(u.memo), v); err != nil {
			return nil, false, err
		}
	case 'p': // PUT (text)
		s, err := u.line()
		if err != nil {
			return nil, false, err
		}
		i, err := strconv.Atoi(s)
		if err != nil {
			return nil, false, fmt.Errorf("bad memo index %q", s)
		}
		v, err := u.top()
		if err != nil {
			return nil, false, err
		}
		if err := u.put(i, v); err != nil {
			return nil, false, err
		}
	case 'h': // BINGET
		b, err := u.need(1)
		if err != nil {
			return nil, false, err
		}
		if err := u.get(int(b[0])); err != nil {
			return nil, false, err
		}
	case 'j': // LONG_BINGET
		b, err := u.need(4)
		if err != nil {
			return nil, false, err
		}
		if err := u.get(int(binary.LittleEndian.Uint32(b))); err != nil {
			return nil, false, err
		}
	case 'g': // GET (text)
		s, err := u.line()
		if err != nil {
			return nil, false, err
		}
		i, err := strconv.Atoi(s)
		if err != nil {
			return nil, false, fmt.Errorf("bad memo index %q", s)
		}
		if err := u.get(i); err != nil {
			return nil, false, err
		}
	case 'c': // GLOBAL "module\nname\n"
		module, err := u.line()
		if err != nil {
			return nil, false, err
		}
		name, err := u.line()
		if err != nil {
			return nil, false, err
		}
		if err := u.global(module, name); err != nil {
			return nil, false, err
		}
	case 0x93: // STACK_GLOBAL
		name, err := u.pop()
		if err != nil {
			return nil, false, err
		}
		module, err := u.pop()
		if err != nil {
			return nil, false, err
		}
		m, ok1 := module.(string)
		n, ok2 := name.(string)
		if !ok1 || !ok2 {
			return nil, false, fmt.Errorf("STACK_GLOBAL needs two strings, got %s and %s", typeName(module), typeName(name))
		}
		if err := u.global(m, n); err != nil {
			return nil, false, err
		}
	case 'R': // REDUCE
		args, err := u.pop()
		if err != nil {
			return nil, false, err
		}
		fn, err := u.pop()
		if err != nil {
			return nil, false, err
		}
		g, ok := fn.(pyGlobal)
		if !ok {
			return nil, false, fmt.Errorf("REDUCE on %s, not a global", typeName(fn))
		}
		t, ok := args.(pyTuple)
		if !ok {
			return nil, false, fmt.Errorf("REDUCE %s with %s arguments, not a tuple", g, typeName(args))
		}
		v, err := u.reduce(g, t)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", g, err)
		}
		u.push(v)
	case 'b': // BUILD: only the attribute state of dicts (OrderedDict._metadata) is accepted, and ignored.
		state, err := u.pop()
		if err != nil {
			return nil, false, err
		}
		obj, err := u.top()
		if err != nil {
			return nil, false, err
		}
		if _, ok := obj.(*pyDict); !ok {
			return nil, false, fmt.Errorf("BUILD on %s is not supported", typeName(obj))
		}
		_ = state
	case 'Q': // BINPERSID
		pid, err := u.pop()
		if err != nil {
			return nil, false, err
		}
		v, err := u.persistent(pid)
		if err != nil {
			return nil, false, err
		}
		u.push(v)
	case 'P': // PERSID (text)
		s, err := u.line()
		if err != nil {
			return nil, false, err
		}
		v, err := u.persistent(s)
		if err != nil {
			return nil, false, err
		}
		u.push(v)
	default:
		return nil, false, fmt.Errorf("unsupported opcode")
	}
	return nil, false, nil
}

func (u *unpickler) persistent(pid any) (any, error) {
	if u.persistentLoad == nil {
		return nil, errors.New("persistent id without a resolver")
	}
	return u.persistentLoad(pid)
}

func (u *unpickler) setItemsOnTop(items []any) error {
	u.items += len(items)
	d, err := u.top()
	if err != nil {
		return err
	}
	dict, ok := d.(*pyDict)
	if !ok {
		return fmt.Errorf("SETITEM on %s", typeName(d))
	}
	return setItems(dict, items)
}

func setItems(d *pyDict, items []any) error {
	if len(items)%2 != 0 {
		return fmt.Errorf("odd number (%d) of dict items", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(items[i], items[i+1]); err != nil {
			return err
		}
	}
	return nil
}
