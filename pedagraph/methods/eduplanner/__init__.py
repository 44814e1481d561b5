"""Lesson planning (EduPlanner): the group's skill tree, plans and their scores, and the class view."""
