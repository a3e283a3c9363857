"""SecureAuth's side of social-auth-app-django: the API strategy, the backend
adapter that completes a sign-in from values a JSON client sends, and the
pipeline steps that apply SecureAuth's account-linking rules."""
