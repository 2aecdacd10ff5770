// Package ftptest is bucketftp's end-to-end suite: a real server on
// 127.0.0.1:0 over a given storage backend, driven by raw FTP (exact reply
// codes) and by real clients. ftp/ runs it on memory and local-directory
// storage; integration/ runs it on S3 (MinIO).
package ftptest

import (
	"testing"

	"github.com/bucketftp/bucketftp/storage"
)

// NewBackend returns an empty backend for one test.
type NewBackend = func(t *testing.T) storage.Backend

type newBackend = NewBackend

// Run runs every case of the suite against backends made by nb.
func Run(t *testing.T, nb NewBackend) {
	cases := []struct {
		name string
		fn   func(*testing.T, newBackend)
	}{
		{"ReplyCodes", testReplyCodes},
		{"Transfers", testTransfers},
		{"Listings", testListings},
		{"PermissionsAndQuota", testPermissionsAndQuota},
		{"RefusedUploadIsRead", testRefusedUploadIsRead},
		{"AbortAndBrokenTransfers", testAbortAndBrokenTransfers},
		{"DataConnectionAlreadyOpen", testDataConnectionAlreadyOpen},
		{"ActiveMode", testActiveMode},
		{"PassiveTimeoutGets425", testPassiveTimeoutGets425},
		{"SessionLimits", testSessionLimits},
		{"Shutdown", testShutdown},
		{"ShutdownDeadlineAbortsUploads", testShutdownDeadlineAbortsUploads},
		{"ShutdownWaitIsBounded", testShutdownWaitIsBounded},
		{"BackendErrorsBecomeReplies", testBackendErrorsBecomeReplies},
		{"RESTWithAPPE", testRESTWithAPPE},
		{"PassivePortRangeAndPublicHost", testPassivePortRangeAndPublicHost},
		{"IdleTimeoutSparesTransfers", testIdleTimeoutSparesTransfers},
		{"IPv6", testIPv6},
		{"FailedLoginDelayGrows", testFailedLoginDelayGrows},
		{"JlaffayeClient", testJlaffayeClient},
		{"CurlClient", testCurlClient},
		{"LftpClient", testLftpClient},
		{"PythonFtplib", testPythonFtplib},
		{"FTPSReplies", testFTPSReplies},
		{"FTPSAuthMechanisms", testFTPSAuthMechanisms},
		{"FTPSStrictEOF", testFTPSStrictEOF},
		{"FTPSGoClient", testFTPSGoClient},
		{"FTPSPythonAndCurl", testFTPSPythonAndCurl},
		{"FTPSLftp", testFTPSLftp},
		{"FTPSPerUserRequirement", testFTPSPerUserRequirement},
		{"PassivePeerCheck", testPassivePeerCheck},
		{"TransferLog", testTransferLog},
		{"TranscriptMasksPasswords", testTranscriptMasksPasswords},
		{"RepeatedLogins", testRepeatedLogins},
		{"PathTraversal", testPathTraversal},
		{"BounceRefused", testBounceRefused},
		{"PassiveTheft", testPassiveTheft},
		{"LoginTimingHidesUsers", testLoginTimingHidesUsers},
		{"Slowloris", testSlowloris},
		{"HugeLine", testHugeLine},
		{"PipelinedCommands", testPipelinedCommands},
		{"PassiveStorm", testPassiveStorm},
		{"AbortStorm", testAbortStorm},
		{"WriteOnlyRule", testWriteOnlyRule},
		{"MountPermissions", testMountPermissions},
		{"QueueBound", testQueueBound},
		{"LoginDeadline", testLoginDeadline},
		{"LoginDeadlineUnread", testLoginDeadlineUnread},
		{"SlowLoginNearDeadline", testSlowLoginNearDeadline},
		{"Ban", testBan},
		{"PassivePerIP", testPassivePerIP},
		{"RepliesSanitised", testRepliesSanitised},
		{"STARTTLSInjection", testSTARTTLSInjection},
		{"AUTHDuringTransfer", testAUTHDuringTransfer},
		{"Wildcards", testWildcards},
		{"ListTree", testListTree},
		{"ListTreeLinks", testListTreeLinks},
		{"NameEncodings", testNameEncodings},
		{"ASCIIPolicy", testASCIIPolicy},
		{"InetutilsFtp", testInetutilsFtp},
		{"Tnftp", testTnftp},
		{"PerlNetFTP", testPerlNetFTP},
		{"CommonsNet", testCommonsNet},
		{"SmallCommands", testSmallCommands},
		{"ProxyProtocol", testProxyProtocol},
		{"ProxyRequired", testProxyRequired},
		{"CrowdFromOneAddress", testCrowdFromOneAddress},
		{"HashSizesAndClients", testHashSizesAndClients},
		{"BandwidthSharedByUser", testBandwidthSharedByUser},
		{"BandwidthPerAddress", testBandwidthPerAddress},
		{"BandwidthDownload", testBandwidthDownload},
		{"BandwidthUnlimited", testBandwidthUnlimited},
		{"BandwidthAbort", testBandwidthAbort},
		{"BandwidthSparesTimeouts", testBandwidthSparesTimeouts},
		{"Hash", testHash},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, nb) })
	}
}
