package frames

import (
	"encoding"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ExtractBinary returns a copy of args in which every []byte is replaced by
// a Placeholder numbering it, with the []byte values collected, in order,
// in atts. It finds them at the top level and inside []any and
// map[string]any and, by reflection, inside any slice, array, pointer,
// interface, map with string or integer keys (visited in sorted key order)
// and struct. A struct holding a []byte is converted to a map[string]any
// of its exported fields, honouring the name, "-", omitempty, omitzero and
// string options of json tags as encoding/json does; structs without one
// pass through untouched. Values of types that implement json.Marshaler or
// encoding.TextMarshaler (including json.RawMessage) always pass through
// untouched, and so does a nil []byte (it encodes as null).
//
// args is never modified. When nothing binary is found, out is args itself
// and atts is nil. Nesting deeper than 10000 levels (for example a cyclic
// pointer) is ErrTooDeep.
func ExtractBinary(args []any) (out []any, atts [][]byte, err error) {
	x := extractor{}
	for i, a := range args {
		v, changed, err := x.value(a, 0)
		if err != nil {
			return args, nil, err
		}
		if changed && out == nil {
			out = slices.Clone(args)
		}
		if changed {
			out[i] = v
		}
	}
	if out == nil {
		return args, nil, nil
	}
	return out, x.atts, nil
}

// extractor collects attachments during one ExtractBinary call. Each of its
// walking methods returns the replacement value and whether it differs
// from the input; when it does not, the caller keeps the input.
type extractor struct {
	atts [][]byte
}

// placeholder records b as the next attachment.
func (x *extractor) placeholder(b []byte) Placeholder {
	x.atts = append(x.atts, b)
	return Placeholder{Placeholder: true, Num: len(x.atts) - 1}
}

// value handles the common dynamic types before falling back to reflection.
func (x *extractor) value(v any, depth int) (any, bool, error) {
	if depth > maxDepthCap {
		return nil, false, ErrTooDeep
	}
	switch t := v.(type) {
	case nil, string, bool, float64, int, int64, json.RawMessage, json.Number, Placeholder:
		return v, false, nil
	case []byte:
		if t == nil {
			return v, false, nil
		}
		return x.placeholder(t), true, nil
	case []any:
		return x.anySlice(t, depth)
	case map[string]any:
		return x.anyMap(t, depth)
	}
	return x.reflect(reflect.ValueOf(v), depth)
}

// anySlice walks a []any.
func (x *extractor) anySlice(s []any, depth int) (any, bool, error) {
	var out []any
	for i, e := range s {
		v, changed, err := x.value(e, depth+1)
		if err != nil {
			return nil, false, err
		}
		if changed && out == nil {
			out = slices.Clone(s)
		}
		if changed {
			out[i] = v
		}
	}
	return out, out != nil, nil
}

// anyMap walks a map[string]any in sorted key order.
func (x *extractor) anyMap(m map[string]any, depth int) (any, bool, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out map[string]any
	for _, k := range keys {
		v, changed, err := x.value(m[k], depth+1)
		if err != nil {
			return nil, false, err
		}
		if changed && out == nil {
			out = maps.Clone(m) // copy on first change
		}
		if changed {
			out[k] = v
		}
	}
	return out, out != nil, nil
}

// reflect walks values of other types.
func (x *extractor) reflect(rv reflect.Value, depth int) (any, bool, error) {
	if depth > maxDepthCap {
		return nil, false, ErrTooDeep
	}
	if !rv.IsValid() || !mayHoldBinary(rv.Type()) {
		return nil, false, nil
	}
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, false, nil
		}
		return x.elem(rv.Elem(), depth+1)
	case reflect.Slice:
		if rv.IsNil() {
			return nil, false, nil
		}
		if isBytes(rv.Type()) {
			return x.placeholder(rv.Bytes()), true, nil
		}
		return x.list(rv, depth)
	case reflect.Array:
		return x.list(rv, depth)
	case reflect.Map:
		return x.mapValue(rv, depth)
	case reflect.Struct:
		return x.structValue(rv, depth)
	}
	return nil, false, nil
}

// elem walks a value reached through a pointer, interface or container.
// Unchanged values are returned as their interface so that callers that
// must build a container can use them.
func (x *extractor) elem(rv reflect.Value, depth int) (any, bool, error) {
	if rv.Kind() == reflect.Interface && !rv.IsNil() {
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return nil, false, nil
	}
	if rv.CanInterface() {
		return x.value(rv.Interface(), depth)
	}
	return x.reflect(rv, depth)
}

// list walks a slice or array into a []any when an element changes.
func (x *extractor) list(rv reflect.Value, depth int) (any, bool, error) {
	var out []any
	for i := range rv.Len() {
		v, changed, err := x.elem(rv.Index(i), depth+1)
		if err != nil {
			return nil, false, err
		}
		if !changed && out == nil {
			continue
		}
		if out == nil {
			out = make([]any, rv.Len())
			for j := range i {
				out[j] = rv.Index(j).Interface()
			}
		}
		if !changed {
			v = rv.Index(i).Interface()
		}
		out[i] = v
	}
	return out, out != nil, nil
}

// mapValue walks a map with string or integer keys, in sorted key order,
// into a map[string]any when a value changes.
func (x *extractor) mapValue(rv reflect.Value, depth int) (any, bool, error) {
	keys := rv.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(mapKey(a), mapKey(b)) })
	var out map[string]any
	for _, k := range keys {
		v, changed, err := x.elem(rv.MapIndex(k), depth+1)
		if err != nil {
			return nil, false, err
		}
		if !changed {
			continue
		}
		if out == nil {
			out = make(map[string]any, len(keys))
			for _, k2 := range keys {
				out[mapKey(k2)] = rv.MapIndex(k2).Interface()
			}
		}
		out[mapKey(k)] = v
	}
	return out, out != nil, nil
}

// mapKey formats a string or integer map key as encoding/json does.
func mapKey(k reflect.Value) string {
	switch k.Kind() {
	case reflect.String:
		return k.String()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10)
	}
	return strconv.FormatUint(k.Uint(), 10)
}

// structValue walks the fields of a struct into a map[string]any when one
// of them changes.
func (x *extractor) structValue(rv reflect.Value, depth int) (any, bool, error) {
	fields := structFields(rv.Type())
	var out map[string]any
	for i, f := range fields {
		fv, ok := f.value(rv)
		if !ok {
			continue
		}
		v, changed, err := x.elem(fv, depth+1)
		if err != nil {
			return nil, false, err
		}
		if !changed && out == nil {
			continue
		}
		if out == nil {
			out = plainFields(rv, fields[:i])
		}
		if !changed {
			v = f.plain(fv)
		}
		out[f.name] = v
	}
	return out, out != nil, nil
}

// plainFields returns the fields of rv as encoding/json would write them.
func plainFields(rv reflect.Value, fields []field) map[string]any {
	out := make(map[string]any, len(fields)+1)
	for _, f := range fields {
		if fv, ok := f.value(rv); ok {
			out[f.name] = f.plain(fv)
		}
	}
	return out
}

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	zeroerType        = reflect.TypeFor[interface{ IsZero() bool }]()
	binaryTypes       sync.Map // reflect.Type -> bool
)

// isBytes reports whether t encodes as binary: a byte slice that does not
// marshal itself.
func isBytes(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 && !marshals(t)
}

// marshals reports whether t or *t implements a marshaling interface.
func marshals(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(marshalerType) || t.Implements(textMarshalerType) ||
		p.Implements(marshalerType) || p.Implements(textMarshalerType)
}

// mayHoldBinary reports whether a value of type t can contain a []byte
// that ExtractBinary would replace. It is a cached, conservative
// pre-check: interfaces and recursive types count as maybe.
func mayHoldBinary(t reflect.Type) bool {
	if v, ok := binaryTypes.Load(t); ok {
		return v.(bool)
	}
	v := typeMayHoldBinary(t, map[reflect.Type]bool{})
	binaryTypes.Store(t, v)
	return v
}

func typeMayHoldBinary(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return true
	}
	seen[t] = true
	defer delete(seen, t)
	if isBytes(t) || t.Kind() == reflect.Interface {
		return true
	}
	if marshals(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return typeMayHoldBinary(t.Elem(), seen)
	case reflect.Map:
		return supportedKey(t.Key()) && typeMayHoldBinary(t.Elem(), seen)
	case reflect.Struct:
		return slices.ContainsFunc(structFields(t), func(f field) bool {
			return typeMayHoldBinary(f.typ, seen)
		})
	}
	return false
}

// supportedKey reports whether maps keyed by t are walked.
func supportedKey(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return !marshals(t)
	}
	return false
}

// field is one JSON-visible struct field.
type field struct {
	name      string
	index     []int
	typ       reflect.Type
	tagged    bool
	omitEmpty bool
	omitZero  bool
	quoted    bool
}

var fieldCache sync.Map // reflect.Type -> []field

// structFields returns the JSON-visible fields of struct type t, with the
// embedding and naming rules of encoding/json.
func structFields(t reflect.Type) []field {
	if v, ok := fieldCache.Load(t); ok {
		return v.([]field)
	}
	var all []field
	collectFields(t, nil, map[reflect.Type]bool{}, &all)
	fields := dominantFields(all)
	fieldCache.Store(t, fields)
	return fields
}

// collectFields appends the fields of t, descending into untagged embedded
// structs.
func collectFields(t reflect.Type, index []int, onPath map[reflect.Type]bool, all *[]field) {
	if onPath[t] {
		return
	}
	onPath[t] = true
	defer delete(onPath, t)
	for i := range t.NumField() {
		sf := t.Field(i)
		ft := sf.Type
		if sf.Anonymous && ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if !sf.IsExported() && !(sf.Anonymous && ft.Kind() == reflect.Struct) {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		idx := append(slices.Clip(index), i)
		if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
			collectFields(ft, idx, onPath, all)
			continue
		}
		if !sf.IsExported() {
			continue
		}
		*all = append(*all, newField(sf, name, opts, idx))
	}
}

// newField describes one struct field from its json tag.
func newField(sf reflect.StructField, name, opts string, idx []int) field {
	f := field{name: name, index: idx, typ: sf.Type, tagged: name != ""}
	if name == "" {
		f.name = sf.Name
	}
	for opt := range strings.SplitSeq(opts, ",") {
		switch opt {
		case "omitempty":
			f.omitEmpty = true
		case "omitzero":
			f.omitZero = true
		case "string":
			f.quoted = quotable(sf.Type.Kind())
		}
	}
	return f
}

// quotable reports whether the ",string" option applies to kind k.
func quotable(k reflect.Kind) bool {
	switch k {
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return false
}

// dominantFields applies encoding/json's rules for fields sharing a name:
// the shallowest wins, then a tagged one; a tie hides them all. The result
// is in field order.
func dominantFields(all []field) []field {
	slices.SortStableFunc(all, func(a, b field) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := len(a.index) - len(b.index); c != 0 {
			return c
		}
		return boolRank(a.tagged) - boolRank(b.tagged)
	})
	var out []field
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].name == all[i].name {
			j++
		}
		a := all[i]
		if j == i+1 || len(all[i+1].index) > len(a.index) || all[i+1].tagged != a.tagged {
			out = append(out, a)
		}
		i = j
	}
	slices.SortFunc(out, func(a, b field) int { return slices.Compare(a.index, b.index) })
	return out
}

// boolRank orders true before false.
func boolRank(b bool) int {
	if b {
		return 0
	}
	return 1
}

// value returns the field of rv, unless a nil embedded pointer hides it or
// its options omit it.
func (f field) value(rv reflect.Value) (reflect.Value, bool) {
	fv, err := rv.FieldByIndexErr(f.index)
	return fv, err == nil && !f.omit(fv)
}

// omit reports whether the field's options leave fv out.
func (f field) omit(fv reflect.Value) bool {
	switch {
	case f.omitEmpty && isEmpty(fv):
		return true
	case !f.omitZero:
		return false
	case (fv.Kind() == reflect.Pointer || fv.Kind() == reflect.Interface) && fv.IsNil():
		return true
	case fv.Type().Implements(zeroerType):
		return fv.Interface().(interface{ IsZero() bool }).IsZero()
	}
	return fv.IsZero()
}

// isEmpty reports whether fv is empty in the sense of omitempty.
func isEmpty(fv reflect.Value) bool {
	switch fv.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return fv.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return fv.IsZero()
	}
	return false
}

// plain returns an unchanged field's value as encoding/json would see it.
func (f field) plain(fv reflect.Value) any {
	if !f.quoted {
		return fv.Interface()
	}
	b, err := json.Marshal(fv.Interface())
	if err != nil {
		return fv.Interface()
	}
	return string(b)
}
