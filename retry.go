package siostream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// emitReliable sends one packet at a time, in call order, until the server
// acknowledges it (see Options.Retries).
func (st *Stream) emitReliable(ctx context.Context, event string, args []any) (json.RawMessage, error) {
	select {
	case st.inOrder <- struct{}{}: // callers queue here in arrival order
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-st.inOrder }()
	for tries := 0; tries <= st.opts.Retries; {
		reply, err := st.tryOnce(ctx, event, args)
		switch {
		case err == nil:
			return reply, nil
		case ctx.Err() != nil, errors.Is(err, ErrClosed), !retryable(err):
			return nil, err
		case !errors.Is(err, ErrDisconnected):
			tries++ // a lost connection does not count
		}
	}
	return nil, fmt.Errorf("%w (%d tries)", ErrRetriesExhausted, st.opts.Retries+1)
}

func (st *Stream) tryOnce(ctx context.Context, event string, args []any) (json.RawMessage, error) {
	return st.emitAck(ctx, event, args, st.opts.AckTimeout)
}

// retryable tells the errors worth another try from those that will fail
// the same way again.
func retryable(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrDisconnected) ||
		errors.Is(err, ErrBufferFull)
}
