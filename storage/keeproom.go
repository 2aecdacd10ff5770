package storage

import "context"

type keepRoomKey struct{}

// WithKeepRoom gives the backends under ctx the room that the user's
// interrupted uploads kept for resuming must fit in, together: room
// reports it (the user's quota left) when an upload is interrupted. A
// backend keeps no more of an interrupted upload than fits beside the
// user's other kept uploads, so that cutting uploads off cannot store
// more than the quota allows.
func WithKeepRoom(ctx context.Context, room func(context.Context) int64) context.Context {
	return context.WithValue(ctx, keepRoomKey{}, room)
}

// KeepRoom is the room set by WithKeepRoom; ok false when the user has no
// limit.
func KeepRoom(ctx context.Context) (room int64, ok bool) {
	f, ok := ctx.Value(keepRoomKey{}).(func(context.Context) int64)
	if !ok {
		return 0, false
	}
	return max(f(ctx), 0), true
}
