package commit

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// forEach runs fn on every item with at most limit in flight; the first
// error cancels the rest and is returned.
func forEach[T any](ctx context.Context, limit int, items []T, fn func(context.Context, T) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for _, item := range items {
		g.Go(func() error { return fn(ctx, item) })
	}
	return g.Wait()
}
