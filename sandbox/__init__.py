"""Real servers on loopback for tests and the demo (OpenSSH sshd for SFTP)."""
