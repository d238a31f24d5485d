from django import forms


class AddToCartForm(forms.Form):
    quantity = forms.IntegerField(min_value=1, max_value=99, initial=1)


class CartQuantityForm(forms.Form):
    """Change a cart line; zero removes it."""

    quantity = forms.IntegerField(min_value=0, max_value=99)


class CheckoutForm(forms.Form):
    name = forms.CharField(label="Your name", max_length=120)
    email = forms.EmailField(label="Email address", max_length=254)
