package siostream

import (
	"context"
	"errors"
	"fmt"
)

// emitReliable sends one packet at a time, in call order, until the server
// acknowledges it (see Options.Retries).
func (st *Stream) emitReliable(ctx context.Context, event string, args []any) (Reply, error) {
	select {
	case st.inOrder <- struct{}{}: // callers queue here in arrival order
	case <-ctx.Done():
		return Reply{}, ctx.Err()
	}
	defer func() { <-st.inOrder }()
	for tries := 0; tries <= st.opts.Retries; {
		reply, err := st.emitAck(ctx, event, args, st.opts.AckTimeout)
		switch {
		case err == nil:
			return reply, nil
		case ctx.Err() != nil, errors.Is(err, ErrClosed), !retryable(err):
			return Reply{}, err
		case !errors.Is(err, ErrDisconnected):
			tries++ // a lost connection does not count
		}
	}
	return Reply{}, fmt.Errorf("%w (%d tries)", ErrRetriesExhausted, st.opts.Retries+1)
}

// retryable tells the errors worth another try from those that will fail
// the same way again.
func retryable(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrDisconnected) ||
		errors.Is(err, ErrBufferFull)
}
