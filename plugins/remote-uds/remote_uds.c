/* placeholder */ typedef int osh_placeholder_remote_uds;
