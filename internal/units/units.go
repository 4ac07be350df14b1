// Package units writes sizes the way the operator's messages and the kubectl
// plugin show them.
package units

import "fmt"

// Bytes is n in binary units with one decimal ("10.4 KiB", "64.0 MiB"), or
// whole bytes below a KiB.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
