/* placeholder */ typedef int osh_placeholder_osh_driver_serve;
