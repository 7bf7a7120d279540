/* placeholder */ typedef int osh_placeholder_drivers;
