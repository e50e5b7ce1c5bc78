"""`slowfast bench …` measurements that the runtime packages never import."""
