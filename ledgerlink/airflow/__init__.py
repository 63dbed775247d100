"""The Airflow glue: the only package that imports Airflow. Importing it puts Airflow's connections
in front of ledgerlink's own connection resolvers."""

from ledgerlink.airflow.connections import install

install()
