package frames

import (
	"errors"
	"math"
	"testing"
)

// limitCase is a payload decoded with given Limits.
type limitCase struct {
	name    string
	limits  Limits
	payload string
	atts    int   // the attachment count decoded
	err     error // or the sentinel it is rejected with
}

var limitCases = []limitCase{
	{
		name:    "count at the default limit",
		payload: `510-["x"]`,
		atts:    10,
	},
	{
		name:    "count above the default limit",
		payload: `511-["x"]`,
		err:     ErrTooManyAttachments,
	},
	{
		name:    "negative limit means the default",
		limits:  Limits{MaxAttachments: -1},
		payload: `511-["x"]`,
		err:     ErrTooManyAttachments,
	},
	{
		name:    "count at a limit of 1",
		limits:  Limits{MaxAttachments: 1},
		payload: `61-[{"_placeholder":true,"num":0}]`,
		atts:    1,
	},
	{
		name:    "one digit above a one-digit limit",
		limits:  Limits{MaxAttachments: 1},
		payload: `62-[]`,
		err:     ErrTooManyAttachments,
	},
	{
		name:    "two digits above a one-digit limit",
		limits:  Limits{MaxAttachments: 9},
		payload: `610-[]`,
		err:     ErrTooManyAttachments,
	},
	{
		name:    "leading zeros",
		payload: `500000000000000000000000000000010-["x"]`,
		atts:    10,
	},
	{
		name:    "count at the largest int limit",
		limits:  Limits{MaxAttachments: math.MaxInt},
		payload: `59223372036854775807-["x"]`,
		atts:    math.MaxInt,
	},
	{
		name:    "count one above the largest int",
		limits:  Limits{MaxAttachments: math.MaxInt},
		payload: `59223372036854775808-["x"]`,
		err:     ErrTooManyAttachments,
	},
	{
		name:    "count ten times the largest int",
		limits:  Limits{MaxAttachments: math.MaxInt},
		payload: `592233720368547758070-["x"]`,
		err:     ErrTooManyAttachments,
	},
	{
		name:    "30-digit count",
		limits:  Limits{MaxAttachments: math.MaxInt},
		payload: `6123456789012345678901234567890-[]`,
		err:     ErrTooManyAttachments,
	},
}

// TestAttachmentCountLimits checks that the "N-" count is compared with
// the limit digit by digit, so that no count wraps around, whatever the
// limit.
func TestAttachmentCountLimits(t *testing.T) {
	for _, c := range limitCases {
		t.Run(c.name, func(t *testing.T) {
			var p Packet
			err := c.limits.ParsePacket([]byte(c.payload), &p)
			if !errors.Is(err, c.err) || (c.err == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, c.err)
			}
			if p.Attachments != c.atts {
				t.Fatalf("%d attachments, want %d", p.Attachments, c.atts)
			}
		})
	}
}
