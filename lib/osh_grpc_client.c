/* placeholder */ typedef int osh_placeholder_osh_grpc_client;
