package ftp

// growStackSize is about what a transfer's calls into the S3 adapter use:
// its frame makes the runtime grow the stack to 64 KiB at once.
const growStackSize = 32 << 10

// stackTouch keeps growStack's frame from being optimized away.
var stackTouch int

// growStack grows the calling goroutine's stack to its working size in
// one step, while the goroutine is still shallow. A transfer goroutine
// starts with the runtime's small initial stack, then calls into the
// storage adapter, where the S3 client's middleware nests deeply: growing
// there doubles the stack several times, each time copying the deep
// stack and adjusting every frame in it (runtime.copystack was about a
// seventh of the server's CPU time in a run of 4 KiB uploads). One large
// frame here makes that a single copy of a few frames.
//
//go:noinline
func growStack() int {
	var b [growStackSize]byte
	b[stackTouch&(len(b)-1)] = 1
	return int(b[(stackTouch+1)&(len(b)-1)])
}
