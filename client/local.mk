# client/: libcondd (installed) - placeholder until the client library lands.
