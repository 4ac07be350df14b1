package storage

// SetS3CopyLimits lowers the S3 limits of b (from Open) for a test: sources
// over single bytes are copied in parts of part bytes.
func SetS3CopyLimits(b Bucket, single, part int64) bool {
	bb, ok := unwrap(b).(*blobBucket)
	if !ok || bb.s3 == nil {
		return false
	}
	bb.s3.singleCopyLimit, bb.s3.copyPartSize = single, part
	return true
}
