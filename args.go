package siostream

import (
	"encoding/json"
	"fmt"

	"github.com/siostream/siostream/frames"
)

// Reply is the server's answer to EmitWithAck: its arguments, with the
// same helpers as an Event. It owns its bytes.
type Reply struct {
	// Args is the JSON array of the server's ack arguments. A binary
	// attachment stands in it as its placeholder; Decode, Arg and Values
	// put the bytes in its place.
	Args json.RawMessage
	atts [][]byte
}

// Decode decodes the arguments, in order, into the values v points to, as
// Event.Decode does.
func (r Reply) Decode(v ...any) error {
	if err := decodeArgs(r.Args, r.atts, v); err != nil {
		return fmt.Errorf("siostream: decode ack reply: %w", err)
	}
	return nil
}

// Arg returns the raw JSON of argument i (binary as base64), or nil.
func (r Reply) Arg(i int) json.RawMessage { return argAt(r.Args, r.atts, i) }

// Values decodes the arguments as encoding/json does for `any`, with each
// binary attachment as a []byte.
func (r Reply) Values() ([]any, error) {
	v, err := argValues(r.Args, r.atts)
	if err != nil {
		return nil, fmt.Errorf("siostream: decode ack reply: %w", err)
	}
	return v, nil
}

// Attachments are the reply's binary attachments, in placeholder order.
func (r Reply) Attachments() [][]byte { return r.atts }

// argList strips the brackets of a JSON array.
func argList(args json.RawMessage) []byte {
	if len(args) < 2 {
		return nil
	}
	return args[1 : len(args)-1]
}

func decodeArgs(args json.RawMessage, atts [][]byte, v []any) error {
	rest := argList(args)
	var val []byte
	var err error
	for i := 0; i < len(v) && len(rest) > 0; i++ {
		if val, rest, err = frames.NextValue(rest); err != nil {
			return err
		}
		if v[i] == nil {
			continue
		}
		if atts != nil {
			if val, err = frames.ResolveBinary(nil, val, atts); err != nil {
				return err
			}
		}
		if err := json.Unmarshal(val, v[i]); err != nil {
			return err
		}
	}
	return nil
}

func argAt(args json.RawMessage, atts [][]byte, i int) json.RawMessage {
	rest := argList(args)
	for ; len(rest) > 0; i-- {
		val, next, err := frames.NextValue(rest)
		if err != nil {
			return nil
		}
		if i == 0 {
			if atts != nil {
				if val, err = frames.ResolveBinary(nil, val, atts); err != nil {
					return nil
				}
			}
			return val
		}
		rest = next
	}
	return nil
}

func argValues(args json.RawMessage, atts [][]byte) ([]any, error) {
	var raw []any
	if err := json.Unmarshal(args, &raw); err != nil {
		return nil, err
	}
	if len(atts) == 0 {
		return raw, nil
	}
	v, err := frames.ResolveValue(raw, atts)
	if err != nil {
		return nil, err
	}
	out, _ := v.([]any)
	return out, nil
}
