## The web chat page

web-title = Nexoraz: studio photos in a chat
web-placeholder = Type a message, or send a photo of your product
web-send = Send
web-photo = 📷 Photo
web-offline = Connection lost. Reconnecting…
web-you = You
web-bot = Nexoraz
