// Package fileroots decides which local paths a file:// store may reach
// through a hostPath: only those under roots the cluster admin allows.
package fileroots

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
)

// ErrNotAllowed means a file:// URI names a path outside every allowed root.
var ErrNotAllowed = errors.New("outside the allowed file:// roots")

// Path is the cleaned local path of a file:// URI; ok is false for other
// schemes. A file:// URI with a host or without an absolute path is an
// error: it names no path on the node.
func Path(uri string) (p string, ok bool, err error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", false, fmt.Errorf("parse %q: %w", uri, err)
	}
	if u.Scheme != "file" {
		return "", false, nil
	}
	if u.Host != "" && u.Host != "localhost" {
		return "", true, fmt.Errorf("%q names host %q: a file:// URI must be file:///<absolute path>", uri, u.Host)
	}
	if !path.IsAbs(u.Path) {
		return "", true, fmt.Errorf("%q names no absolute path", uri)
	}
	return path.Clean(u.Path), true, nil
}

// Check returns nil when p (a cleaned absolute path) is one of roots or
// below one, and an error wrapping ErrNotAllowed otherwise. ".." cannot
// climb out: p is compared after cleaning, and only whole path elements
// match ("/data" does not allow "/database").
func Check(p string, roots []string) error {
	_, _, err := Split(p, roots)
	return err
}

// Split is Check that also says how to mount p: the allowed root that
// holds it (the longest, when roots nest) and p relative to that root ("" for
// the root itself). A pod mounts the root as a hostPath and reaches p
// through the mount's subPath, which the kubelet resolves inside the root
// without following a symlink out of it; a hostPath of p itself would
// follow any symlink a pod planted on its way.
func Split(p string, roots []string) (root, sub string, err error) {
	for _, r := range roots {
		r = path.Clean(r)
		if !path.IsAbs(r) || len(r) <= len(root) && root != "" {
			continue
		}
		switch {
		case p == r:
			root, sub = r, ""
		case r == "/":
			root, sub = r, strings.TrimPrefix(p, "/")
		case strings.HasPrefix(p, r+"/"):
			root, sub = r, strings.TrimPrefix(p, r+"/")
		}
	}
	if root == "" {
		return "", "", fmt.Errorf("%s is %w", p, ErrNotAllowed)
	}
	return root, sub, nil
}

// Parse splits a comma-separated list of roots (the manager flag), dropping
// empty entries; a root that is not absolute is an error.
func Parse(list string) ([]string, error) {
	var roots []string
	for _, r := range strings.Split(list, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !path.IsAbs(r) {
			return nil, fmt.Errorf("file:// root %q is not an absolute path", r)
		}
		roots = append(roots, path.Clean(r))
	}
	return roots, nil
}
