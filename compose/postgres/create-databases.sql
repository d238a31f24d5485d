-- One server, one database per app. Runs once, when the data volume is new.
CREATE DATABASE shop;
CREATE DATABASE blog;
CREATE DATABASE reports;
