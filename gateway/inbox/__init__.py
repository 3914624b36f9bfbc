"""The agent inbox: threads handed off by the bot, agents with a capacity, and their actions."""
