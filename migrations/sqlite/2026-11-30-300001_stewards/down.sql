DROP TABLE stewards;
